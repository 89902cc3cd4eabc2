package dev.changepipe.source.storage;

import java.time.Duration;
import java.util.Objects;

/**
 * Options of an operations storage. Immutable; build with {@link #builder()}.
 *
 * @param keyPrefix the Redis key prefix; keys are {@code <prefix>:operations:<import_key>},
 *     {@code <prefix>:lock:<import_key>}, {@code <prefix>:lock_pid:<import_key>},
 *     {@code <prefix>:last_sync:<import_key>} and {@code <prefix>:lock_fence:<import_key>}, and the
 *     batches being synced. Default {@value #DEFAULT_KEY_PREFIX}, django-clickhouse's
 * @param clusterMode wrap the import key in a hash tag ({@code <prefix>:operations:{<import_key>}}), so
 *     that every key of one import key lands in one Redis Cluster slot; default {@code false}
 *     (django-clickhouse's keys, which have no hash tag)
 * @param lockTimeout how long a sync lock lives unless renewed: a worker renews it several times per
 *     lock timeout for as long as its round lasts, and a worker that died is taken over about this long
 *     after its last renewal. At least {@value #MIN_LOCK_TIMEOUT_MILLIS} ms; default 5 s
 *     (django-clickhouse's is 50 s, ten times its sync delay, and not renewed)
 * @param allowFlush whether {@link OperationsStorage#flush()} may delete data; default {@code false}
 * @param maxRegistrationBatch most pks registered by one script call: concurrent registrations are
 *     batched up to it, and a larger registration is split. Redis runs nothing else during a script,
 *     so it is at most {@value #DEFAULT_MAX_REGISTRATION_BATCH} (about a millisecond of Redis's time),
 *     which is the default
 * @param maxRegistrationsInFlight registration round trips under way at once; further registrations
 *     queue and go in the next batch. Default {@value #DEFAULT_MAX_REGISTRATIONS_IN_FLIGHT}: the most
 *     registrations per script call (eight concurrent one-pk callers: 2.8 per call, against 1.3 with
 *     four calls under way), so Redis, which the application's own registrations share, runs fewer than
 *     half as many scripts, for at most one round trip more of waiting
 */
public record StorageOptions(String keyPrefix, boolean clusterMode, Duration lockTimeout, boolean allowFlush,
        int maxRegistrationBatch, int maxRegistrationsInFlight) {

    public static final String DEFAULT_KEY_PREFIX = "clickhouse_sync";
    public static final Duration DEFAULT_LOCK_TIMEOUT = Duration.ofSeconds(5);
    /** The shortest lock timeout: renewals come every third of it, and each is a round trip. */
    public static final long MIN_LOCK_TIMEOUT_MILLIS = 100;
    public static final int DEFAULT_MAX_REGISTRATION_BATCH = 500;
    public static final int DEFAULT_MAX_REGISTRATIONS_IN_FLIGHT = 1;

    public StorageOptions {
        Objects.requireNonNull(keyPrefix, "keyPrefix");
        if (keyPrefix.isEmpty() || keyPrefix.indexOf('{') >= 0 || keyPrefix.indexOf('}') >= 0
                || keyPrefix.indexOf('*') >= 0 || keyPrefix.indexOf('?') >= 0 || keyPrefix.indexOf('[') >= 0) {
            throw new IllegalArgumentException("keyPrefix must be non-empty and free of { } * ? [, was '" + keyPrefix + "'");
        }
        if (lockTimeout == null || lockTimeout.toMillis() < MIN_LOCK_TIMEOUT_MILLIS) {
            throw new IllegalArgumentException("lockTimeout: must be at least " + MIN_LOCK_TIMEOUT_MILLIS
                    + " ms, was " + lockTimeout);
        }
        if (maxRegistrationBatch < 1 || maxRegistrationBatch > DEFAULT_MAX_REGISTRATION_BATCH) {
            throw new IllegalArgumentException("maxRegistrationBatch must be from 1 to " + DEFAULT_MAX_REGISTRATION_BATCH
                    + ", was " + maxRegistrationBatch);
        }
        if (maxRegistrationsInFlight < 1) {
            throw new IllegalArgumentException("maxRegistrationsInFlight must be positive, was " + maxRegistrationsInFlight);
        }
    }

    /** The defaults: django-clickhouse's layout, 5 s locks (renewed), flush refused. */
    public static StorageOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link StorageOptions}; {@link #build()} validates and names the bad option. */
    public static final class Builder {

        private String keyPrefix = DEFAULT_KEY_PREFIX;
        private boolean clusterMode;
        private Duration lockTimeout = DEFAULT_LOCK_TIMEOUT;
        private boolean allowFlush;
        private int maxRegistrationBatch = DEFAULT_MAX_REGISTRATION_BATCH;
        private int maxRegistrationsInFlight = DEFAULT_MAX_REGISTRATIONS_IN_FLIGHT;

        private Builder() {
        }

        public Builder keyPrefix(String keyPrefix) {
            this.keyPrefix = keyPrefix;
            return this;
        }

        public Builder clusterMode(boolean clusterMode) {
            this.clusterMode = clusterMode;
            return this;
        }

        public Builder lockTimeout(Duration lockTimeout) {
            this.lockTimeout = lockTimeout;
            return this;
        }

        public Builder allowFlush(boolean allowFlush) {
            this.allowFlush = allowFlush;
            return this;
        }

        public Builder maxRegistrationBatch(int maxRegistrationBatch) {
            this.maxRegistrationBatch = maxRegistrationBatch;
            return this;
        }

        public Builder maxRegistrationsInFlight(int maxRegistrationsInFlight) {
            this.maxRegistrationsInFlight = maxRegistrationsInFlight;
            return this;
        }

        public StorageOptions build() {
            return new StorageOptions(keyPrefix, clusterMode, lockTimeout, allowFlush, maxRegistrationBatch,
                    maxRegistrationsInFlight);
        }
    }
}
