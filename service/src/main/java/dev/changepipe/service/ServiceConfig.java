package dev.changepipe.service;

import dev.changepipe.spi.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The parsed, validated service configuration (see docs/service.md for every key). Immutable. The
 * source and sink sections stay {@link Settings}: their keys belong to the provider of their type.
 */
record ServiceConfig(
        Http http,
        String logLevel,
        Path checkpointDirectory,
        Duration shutdownTimeout,
        Restart restart,
        Map<String, Map<String, Settings>> connections,
        List<PipelineConfig> pipelines,
        Duration stallTimeout) {

    static final String DEFAULT_HOST = "127.0.0.1";
    static final int DEFAULT_PORT = 8080;
    /** One event loop thread answered 22,000-25,000 one-pk registrations a second on two cores. */
    static final int DEFAULT_HTTP_IO_THREADS = 1;
    static final String DEFAULT_LOG_LEVEL = "INFO";
    static final Path DEFAULT_CHECKPOINT_DIRECTORY = Path.of("checkpoints");
    static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(30);
    static final Duration DEFAULT_MIN_BACKOFF = Duration.ofSeconds(1);
    static final Duration DEFAULT_MAX_BACKOFF = Duration.ofMinutes(1);
    static final int DEFAULT_MAX_PERMANENT_FAILURES = 3;
    /** A running pipeline with data pending and nothing acknowledged for this long is not ready. */
    static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofMinutes(5);

    /**
     * HTTP admin settings.
     *
     * @param enabled whether to serve HTTP at all
     * @param host the address to bind, loopback by default
     * @param port the port; 0 picks a free one (logged and written to {@code portFile})
     * @param token the bearer token mutating endpoints require, or {@code null}: they are then refused
     * @param portFile where to write the bound port, or {@code null}
     * @param ioThreads the server's event loop threads, which its Redis connections share
     *     ({@link HttpEventLoops})
     */
    record Http(boolean enabled, String host, int port, String token, Path portFile, int ioThreads) {

        @Override
        public String toString() {
            return "Http[enabled=" + enabled + ", host=" + host + ", port=" + port
                    + ", token=" + (token == null ? "none" : "***") + ", portFile=" + portFile + ", ioThreads="
                    + ioThreads + "]";
        }
    }

    /**
     * Restarts of failed pipelines: backoff doubling from {@code min} up to {@code max}; a pipeline
     * failing with a permanent (not retryable) error more than {@code maxPermanentFailures} times in
     * a row without progress is not restarted again ({@code FAILED}).
     */
    record Restart(Duration minBackoff, Duration maxBackoff, int maxPermanentFailures) {
    }

    /**
     * One pipeline.
     *
     * @param name unique; letters, digits, {@code . _ -}
     * @param source the source section ({@code type:} plus the provider's keys)
     * @param pusher which pusher and its limits
     * @param sinks the sink sections ({@code type:} plus the provider's keys)
     */
    record PipelineConfig(String name, Settings source, Pusher pusher, List<Settings> sinks, Duration drainTimeout) {
    }

    /** The pusher of a pipeline and its limits (see pusher/README.md). */
    record Pusher(Kind kind, int parallelism, long inFlightLimitBytes, long maxBatchBytes, int maxBatchChunks,
            int writesInFlight, long minBatchBytes, Duration batchLinger) {

        enum Kind {
            PARSE_QUEUE,
            SYNC
        }
    }
}
