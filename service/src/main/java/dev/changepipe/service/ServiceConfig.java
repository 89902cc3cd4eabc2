package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.spi.DataSize;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The parsed, validated service configuration. Immutable. The source and sink sections stay
 * {@link Settings}: their keys belong to the provider of their type. {@link File} is the file as
 * written, which {@link ConfigLoader} binds and docs/options.md documents.
 */
record ServiceConfig(
        Http http,
        String logLevel,
        Path checkpointDirectory,
        Duration shutdownTimeout,
        Restart restart,
        Map<String, Map<String, Settings>> connections,
        List<PipelineConfig> pipelines,
        Duration stallTimeout,
        Instances instances) {

    static final String DEFAULT_HOST = "127.0.0.1";
    static final int DEFAULT_PORT = 8080;
    /** One event loop thread answered 22,000-25,000 one-pk registrations a second on two cores. */
    static final int DEFAULT_HTTP_IO_THREADS = 1;
    static final Path DEFAULT_CHECKPOINT_DIRECTORY = Path.of("checkpoints");
    static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(30);
    static final Duration DEFAULT_MIN_BACKOFF = Duration.ofSeconds(1);
    static final Duration DEFAULT_MAX_BACKOFF = Duration.ofMinutes(1);
    static final int DEFAULT_MAX_PERMANENT_FAILURES = 3;
    /** A running pipeline with data pending and nothing acknowledged for this long is not ready. */
    static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofMinutes(5);
    static final Duration DEFAULT_LEASE_TIME = Duration.ofSeconds(10);
    static final int DEFAULT_WRITE_LOG = 100_000;

    /** The configuration file's keys, as written (every key of the service's own, in docs/options.md). */
    record File(
            @Key("the HTTP admin server") Http http,
            @Key("logging") Logging logging,
            @Key("where progress is kept") Checkpoints checkpoints,
            @Key("stopping") Shutdown shutdown,
            @Key("restarts of failed pipelines") Restart restart,
            @Key("readiness") Health health,
            @Key(value = "several instances of the service on one set of sources (docs/deployment.md): each pipeline runs"
                    + " on one instance at a time, under a lease in Redis", defaultText = "none: one instance")
            Instances instances,
            @Key(value = "`connections.<kind>.<name>`: the servers the sections name, by kind (below, with their"
                    + " types' keys)", defaultText = "none")
            Map<String, Map<String, JsonNode>> connections,
            @Key(value = "the pipelines, each a source, a pusher and its sinks", required = true) List<PipelineFile> pipelines) {

        File {
            http = http == null ? new Http(null, null, null, null, null, null) : http;
            logging = logging == null ? new Logging(null) : logging;
            checkpoints = checkpoints == null ? new Checkpoints(null) : checkpoints;
            shutdown = shutdown == null ? new Shutdown(null) : shutdown;
            restart = restart == null ? new Restart(null, null, null) : restart;
            health = health == null ? new Health(null) : health;
            connections = connections == null ? Map.of() : connections;
            pipelines = pipelines == null ? List.of() : pipelines;
        }
    }

    /**
     * Several instances on one set of sources (docs/deployment.md). With it, every pipeline runs on the
     * one instance that holds its lease, and the checkpoints are kept in Redis, where every instance
     * finds them.
     */
    record Instances(
            @Key(value = "`connections.redis.<name>` where the instances keep the pipelines' leases, their checkpoints"
                    + " (instead of `checkpoints.directory`) and the write log", required = true) String redis,
            @Key(value = "this instance's name: letters, digits, `.`, `_`, `-`, `:`; unique among the instances",
                    defaultText = "`<host name>-<process id>`") String id,
            @Key("an instance that stops renewing its leases (killed, paused, cut off) loses its pipelines after this"
                    + " long, and another instance takes them over from their checkpoints; renewed every third of it")
            Duration leaseTime,
            @Key(value = "entries kept in the write log (a Redis stream: which instance wrote which origins under which"
                    + " lease); 0: none", min = 0, max = 100_000_000) Integer writeLog) {

        Instances {
            leaseTime = leaseTime == null ? DEFAULT_LEASE_TIME : leaseTime;
            writeLog = writeLog == null ? DEFAULT_WRITE_LOG : writeLog;
        }
    }

    /** The root log level. */
    enum Level { TRACE, DEBUG, INFO, WARN, ERROR, OFF }

    record Logging(@Key("the root log level (`PIPELINE_LOG_LEVEL` sets it before the config is read)") Level level) {
        Logging {
            level = level == null ? Level.INFO : level;
        }
    }

    record Checkpoints(@Key("a subdirectory per pipeline, a file per origin; relative to the config file") Path directory) {
        Checkpoints {
            directory = directory == null ? DEFAULT_CHECKPOINT_DIRECTORY : directory;
        }
    }

    record Shutdown(@Key("how long SIGTERM waits for every pipeline to drain") Duration timeout) {
        Shutdown {
            timeout = timeout == null ? DEFAULT_SHUTDOWN_TIMEOUT : timeout;
        }
    }

    record Health(@Key("a running pipeline with data pending (chunks in flight, or source lag) whose acknowledged"
            + " position has not moved for this long is not ready (`/health/ready`: `stalled: ...`)") Duration stallTimeout) {
        Health {
            stallTimeout = stallTimeout == null ? DEFAULT_STALL_TIMEOUT : stallTimeout;
        }
    }

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
    record Http(
            @Key("serve HTTP at all") Boolean enabled,
            @Key("the address to bind; loopback by default") String host,
            @Key(value = "the port; 0 picks a free one (logged, and written to `portFile`)", min = 0, max = 65535)
            Integer port,
            @Key(value = "the bearer token (16 or more characters) of the mutating endpoints; without it they answer 403",
                    defaultText = "none")
            String token,
            @Key(value = "write the bound port to this file", defaultText = "none") Path portFile,
            @Key(value = "the server's event loop threads, which the Redis connections of `POST /api/operations` and"
                    + " `GET /api/hot/...` share (a registration is read, sent to Redis and answered on one thread);"
                    + " one answered 22,000-25,000 one-pk registrations a second from eight clients on two cores",
                    min = 1, max = 64)
            Integer ioThreads) {

        Http {
            enabled = enabled == null || enabled;
            host = host == null ? DEFAULT_HOST : host;
            port = port == null ? DEFAULT_PORT : port;
            token = token == null || token.isEmpty() ? null : token;
            ioThreads = ioThreads == null ? DEFAULT_HTTP_IO_THREADS : ioThreads;
        }

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
    record Restart(
            @Key("the first restart delay of a failed pipeline; it doubles") Duration minBackoff,
            @Key("the longest restart delay; the delay starts over after a run longer than this") Duration maxBackoff,
            @Key(value = "how many times in a row a run failing with a permanent (not retryable) error is restarted"
                    + " without progress (a run that acknowledged something starts the count over); after that the"
                    + " pipeline is `FAILED`. 0: never restart a permanent failure. Transient errors always restart",
                    min = 0, max = 1_000_000)
            Integer maxPermanentFailures) {

        Restart {
            minBackoff = minBackoff == null ? DEFAULT_MIN_BACKOFF : minBackoff;
            maxBackoff = maxBackoff == null ? DEFAULT_MAX_BACKOFF : maxBackoff;
            maxPermanentFailures = maxPermanentFailures == null ? DEFAULT_MAX_PERMANENT_FAILURES : maxPermanentFailures;
        }
    }

    /** One pipeline as written. */
    record PipelineFile(
            @Key(value = "unique; 1 to 64 letters, digits, `.`, `_`, `-`", required = true) String name,
            @Key(value = "`type` plus the keys of that type (below)", required = true) JsonNode source,
            @Key("which pusher, and its limits (pusher/README.md)") Pusher pusher,
            @Key(value = "a list, each `type` plus the keys of that type (below)", required = true) List<JsonNode> sinks,
            @Key("how long a stopping run waits for in-flight chunks. When a bounded source completed by itself (the"
                    + " end of a snapshot) the last chunks drain for as long as acknowledgements keep coming: the run"
                    + " fails only after `drainTimeout` without one") Duration drainTimeout) {

        PipelineFile {
            pusher = pusher == null ? Pusher.DEFAULTS : pusher;
            sinks = sinks == null ? List.of() : sinks;
            drainTimeout = drainTimeout == null ? Pipeline.DEFAULT_DRAIN_TIMEOUT : drainTimeout;
        }
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
    record Pusher(
            @Key("`parse-queue` parses in parallel and writes in order; `sync` parses and writes one chunk at a time")
            Kind kind,
            @Key(value = "parse threads", min = 1, max = 1024, defaultText = "processors") Integer parallelism,
            @Key("most bytes in flight, counted as what chunks hold in memory once parsed") DataSize inFlightLimit,
            @Key("group commit: most bytes of chunks written as one batch") DataSize maxBatch,
            @Key(value = "group commit: most chunks in a batch", min = 1, max = 1_000_000) Integer maxBatchChunks,
            @Key(value = "batches written at once where every sink's writes commute", min = 1, max = 64)
            Integer writesInFlight,
            @Key("a smaller batch waits for the chunks being parsed...") DataSize minBatch,
            @Key("...for at most this long") Duration batchLinger) {

        static final Pusher DEFAULTS = new Pusher(null, null, null, null, null, null, null, null);

        Pusher {
            kind = kind == null ? Kind.PARSE_QUEUE : kind;
            parallelism = parallelism == null ? ParseQueueOptions.DEFAULT_PARALLELISM : parallelism;
            inFlightLimit = inFlightLimit == null ? DataSize.ofBytes(ParseQueueOptions.DEFAULT_IN_FLIGHT_LIMIT_BYTES) : inFlightLimit;
            maxBatch = maxBatch == null ? DataSize.ofBytes(ParseQueueOptions.DEFAULT_MAX_BATCH_BYTES) : maxBatch;
            maxBatchChunks = maxBatchChunks == null ? ParseQueueOptions.DEFAULT_MAX_BATCH_CHUNKS : maxBatchChunks;
            writesInFlight = writesInFlight == null ? ParseQueueOptions.DEFAULT_MAX_WRITES_IN_FLIGHT : writesInFlight;
            minBatch = minBatch == null ? DataSize.ofBytes(ParseQueueOptions.DEFAULT_MIN_BATCH_BYTES) : minBatch;
            batchLinger = batchLinger == null ? ParseQueueOptions.DEFAULT_BATCH_LINGER : batchLinger;
        }

        enum Kind {
            PARSE_QUEUE,
            SYNC
        }
    }
}
