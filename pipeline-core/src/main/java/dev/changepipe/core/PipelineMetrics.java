package dev.changepipe.core;

/**
 * The names of the metrics the pipeline publishes through Micrometer. Every meter carries the tag
 * {@value #TAG_PIPELINE}; sink meters also {@value #TAG_SINK}.
 */
public final class PipelineMetrics {

    public static final String TAG_PIPELINE = "pipeline";
    public static final String TAG_SINK = "sink";

    /** Gauge: bytes admitted to the pusher and not yet acknowledged. */
    public static final String INFLIGHT_BYTES = "changepipe.pusher.inflight.bytes";
    /** Gauge: chunks admitted to the pusher and not yet acknowledged. */
    public static final String INFLIGHT_CHUNKS = "changepipe.pusher.inflight.chunks";
    /** Counter: chunks admitted. */
    public static final String PUSHED_CHUNKS = "changepipe.pusher.pushed.chunks";
    /** Counter: chunks acknowledged. */
    public static final String ACKED_CHUNKS = "changepipe.pusher.acked.chunks";
    /** Counter: items acknowledged. */
    public static final String ACKED_ITEMS = "changepipe.pusher.acked.items";
    /** Timer: parsing one chunk. */
    public static final String PARSE_TIME = "changepipe.pusher.parse";
    /** Timer: writing one chunk to every sink. */
    public static final String WRITE_TIME = "changepipe.pusher.write";
    /** Timer: from admission to acknowledgement of one chunk. */
    public static final String END_TO_END_TIME = "changepipe.pusher.end.to.end";

    private PipelineMetrics() {
    }
}
