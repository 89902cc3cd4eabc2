package dev.changepipe.pusher;

/**
 * Settings of a {@link ParseQueuePusher}. Immutable; build with {@link #builder()}.
 *
 * @param parallelism how many chunks are parsed at once, on that many dedicated threads
 * @param inFlightLimitBytes the most bytes admitted and not yet acknowledged; a single larger chunk
 *     is admitted only when nothing else is in flight
 */
public record ParseQueueOptions(int parallelism, long inFlightLimitBytes) {

    /** Parse threads: the number of processors. */
    public static final int DEFAULT_PARALLELISM = Runtime.getRuntime().availableProcessors();
    /** In-flight limit: 64 MiB. */
    public static final long DEFAULT_IN_FLIGHT_LIMIT_BYTES = 64L << 20;

    public ParseQueueOptions {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1, was " + parallelism);
        }
        if (inFlightLimitBytes < 1) {
            throw new IllegalArgumentException("inFlightLimitBytes must be positive, was " + inFlightLimitBytes);
        }
    }

    /** The defaults: one parse thread per processor, 64 MiB in flight. */
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

        private Builder() {
        }

        /** Parse threads; default: the number of processors. */
        public Builder parallelism(int parallelism) {
            this.parallelism = parallelism;
            return this;
        }

        /** The in-flight limit in bytes; default 64 MiB. */
        public Builder inFlightLimitBytes(long bytes) {
            this.inFlightLimitBytes = bytes;
            return this;
        }

        public ParseQueueOptions build() {
            return new ParseQueueOptions(parallelism, inFlightLimitBytes);
        }
    }
}
