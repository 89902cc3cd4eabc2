package dev.changepipe.source.oplog;

/**
 * The Micrometer meters of an {@link OplogFileSource}. Every meter carries the tag
 * {@value #TAG_SOURCE} (the source's name); the lag gauge also {@value #TAG_ORIGIN} (the file), and
 * is removed once that file is done or the run ends, so directory mode keeps the cardinality bounded.
 */
public final class OplogMetrics {

    public static final String TAG_SOURCE = "source";
    public static final String TAG_ORIGIN = "origin";

    /** Counter: bytes of complete lines read from log files. */
    public static final String BYTES_READ = "changepipe.source.oplog.bytes.read";
    /** Counter: lines parsed (including those dead-lettered). */
    public static final String LINES_READ = "changepipe.source.oplog.lines.read";
    /** Counter: malformed lines sent to the dead-letter file. */
    public static final String DEAD_LETTERS = "changepipe.source.oplog.dead.letters";
    /** Gauge per file: its size minus its checkpointed position, in bytes. */
    public static final String LAG_BYTES = "changepipe.source.oplog.lag.bytes";

    private OplogMetrics() {
    }
}
