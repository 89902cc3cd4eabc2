package dev.changepipe.pusher;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a {@link ParseQueuePusher}. Immutable; build with {@link #builder()}.
 *
 * @param parallelism how many chunks are parsed at once, on that many dedicated threads
 * @param inFlightLimitBytes the most bytes admitted and not yet acknowledged, counted as a chunk's raw
 *     size until it is parsed and its items' size after; a single larger chunk is admitted only when
 *     nothing else is in flight
 * @param maxBatchBytes group commit: the most bytes (parsed size) of the chunks written together as
 *     one batch; a single larger chunk is a batch of its own
 * @param maxBatchChunks group commit: the most chunks written together as one batch
 * @param maxWritesInFlight the most batches being written at once; the pusher uses the smallest of this
 *     and every sink's {@link dev.changepipe.core.Sink#maxWritesInFlight()}
 * @param minBatchBytes group commit: while chunks are still being parsed, a batch smaller than this
 *     waits for them (at most {@code batchLinger}), so that a fast source makes few large writes (a
 *     ClickHouse insert costs the server a part to merge, whatever its size); a batch is written at
 *     once when nothing is being parsed, when pushes wait for room, or when it ends its origin
 * @param batchLinger group commit: the longest the first chunk of a batch waits for a batch of
 *     {@code minBatchBytes}
 */
public record ParseQueueOptions(int parallelism, long inFlightLimitBytes, long maxBatchBytes, int maxBatchChunks,
        int maxWritesInFlight, long minBatchBytes, Duration batchLinger) {

    /** Parse threads: the number of processors. */
    public static final int DEFAULT_PARALLELISM = Runtime.getRuntime().availableProcessors();
    /**
     * In-flight limit: 16 MiB of parsed items (or raw bytes not yet parsed, times what they become):
     * enough to keep two parse threads and two writes busy, and little enough that a 256 MiB heap is
     * not mostly garbage collection (48 MiB cost 12 % more CPU per row end to end at the same rate).
     */
    public static final long DEFAULT_IN_FLIGHT_LIMIT_BYTES = 16L << 20;
    /** Group commit: at most 16 MiB of parsed items in one batch. */
    public static final long DEFAULT_MAX_BATCH_BYTES = 16L << 20;
    /** Group commit: at most 1,000 chunks in one batch. */
    public static final int DEFAULT_MAX_BATCH_CHUNKS = 1000;
    /** At most 2 batches being written at once, where every sink allows it. */
    public static final int DEFAULT_MAX_WRITES_IN_FLIGHT = 2;
    /**
     * Group commit: a batch of 4 MiB is written without waiting for the chunks being parsed (about
     * 60,000 rows encoded for ClickHouse, a fourth of the default in-flight limit).
     */
    public static final long DEFAULT_MIN_BATCH_BYTES = 4L << 20;
    /** Group commit: a batch waits at most 100 ms for chunks being parsed. */
    public static final Duration DEFAULT_BATCH_LINGER = Duration.ofMillis(100);

    public ParseQueueOptions {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1, was " + parallelism);
        }
        if (inFlightLimitBytes < 1) {
            throw new IllegalArgumentException("inFlightLimitBytes must be positive, was " + inFlightLimitBytes);
        }
        if (maxBatchBytes < 1) {
            throw new IllegalArgumentException("maxBatchBytes must be positive, was " + maxBatchBytes);
        }
        if (maxBatchChunks < 1) {
            throw new IllegalArgumentException("maxBatchChunks must be at least 1, was " + maxBatchChunks);
        }
        if (maxWritesInFlight < 1) {
            throw new IllegalArgumentException("maxWritesInFlight must be at least 1, was " + maxWritesInFlight);
        }
        if (minBatchBytes < 0) {
            throw new IllegalArgumentException("minBatchBytes must not be negative, was " + minBatchBytes);
        }
        Objects.requireNonNull(batchLinger, "batchLinger");
        if (batchLinger.isNegative()) {
            throw new IllegalArgumentException("batchLinger must not be negative, was " + batchLinger);
        }
    }

    /** The defaults: one parse thread per processor, 16 MiB in flight, batches of up to 16 MiB. */
    public static ParseQueueOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link ParseQueueOptions}; values are checked by {@link #build()}. */
    public static final class Builder {
        private int parallelism = DEFAULT_PARALLELISM;
        private long inFlightLimitBytes = DEFAULT_IN_FLIGHT_LIMIT_BYTES;
        private long maxBatchBytes = DEFAULT_MAX_BATCH_BYTES;
        private int maxBatchChunks = DEFAULT_MAX_BATCH_CHUNKS;
        private int maxWritesInFlight = DEFAULT_MAX_WRITES_IN_FLIGHT;
        private long minBatchBytes = DEFAULT_MIN_BATCH_BYTES;
        private Duration batchLinger = DEFAULT_BATCH_LINGER;

        private Builder() {
        }

        /** Parse threads; default: the number of processors. */
        public Builder parallelism(int parallelism) {
            this.parallelism = parallelism;
            return this;
        }

        /** The in-flight limit in bytes; default 16 MiB. */
        public Builder inFlightLimitBytes(long bytes) {
            this.inFlightLimitBytes = bytes;
            return this;
        }

        /** The most bytes written as one batch; default 16 MiB. */
        public Builder maxBatchBytes(long bytes) {
            this.maxBatchBytes = bytes;
            return this;
        }

        /** The most chunks written as one batch; default 1,000; 1 turns group commit off. */
        public Builder maxBatchChunks(int chunks) {
            this.maxBatchChunks = chunks;
            return this;
        }

        /** The most batches being written at once, where the sinks allow it; default 2. */
        public Builder maxWritesInFlight(int writes) {
            this.maxWritesInFlight = writes;
            return this;
        }

        /**
         * The size below which a batch waits for the chunks being parsed; default 4 MiB; 0 writes what
         * is parsed at once.
         */
        public Builder minBatchBytes(long bytes) {
            this.minBatchBytes = bytes;
            return this;
        }

        /** The longest a batch waits to reach {@code minBatchBytes}; default 100 ms. */
        public Builder batchLinger(Duration linger) {
            this.batchLinger = linger;
            return this;
        }

        public ParseQueueOptions build() {
            return new ParseQueueOptions(parallelism, inFlightLimitBytes, maxBatchBytes, maxBatchChunks,
                    maxWritesInFlight, minBatchBytes, batchLinger);
        }
    }
}
