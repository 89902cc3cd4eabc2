package dev.changepipe.source.storage;

import dev.changepipe.core.DeadLetterStore;
import io.r2dbc.spi.ConnectionFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Options of a {@link StorageSyncSource}. Immutable; build with {@link #builder()}.
 *
 * @param name the source's name in logs
 * @param importKeys the import keys to sync, each isolated from the others
 * @param databases database alias to a (pooled) R2DBC connection factory; an operation of an alias
 *     not listed fails its round, which is retried, and stays queued
 * @param untilEmpty complete once every import key had a round that found its queue empty (a final
 *     drain, a benchmark), instead of following the queues forever; default {@code false}
 * @param maxRetryDelay the longest pause between retries of a failing round (the pause doubles from
 *     the key's delay up to this); default 60 s
 * @param batchesInFlight per import key, how many batches may be emitted and not yet acknowledged:
 *     with 2 (the default) the next batch is fetched from Redis and PostgreSQL while the previous one
 *     is written; 1 syncs one batch at a time
 * @param deadLetters where queue members that are not operations go (one letter each, cause
 *     {@code malformed}), or {@code null}: they are logged. Either way they leave the queue with their
 *     batch, so that they never hold it up
 */
public record StorageSyncOptions(String name, List<ImportKeyOptions> importKeys, Map<String, ConnectionFactory> databases,
        boolean untilEmpty, Duration maxRetryDelay, int batchesInFlight, DeadLetterStore deadLetters) {

    public static final String DEFAULT_NAME = "operations-storage";
    public static final Duration DEFAULT_MAX_RETRY_DELAY = Duration.ofSeconds(60);
    public static final int DEFAULT_BATCHES_IN_FLIGHT = 2;

    public StorageSyncOptions {
        Objects.requireNonNull(name, "name");
        importKeys = List.copyOf(importKeys);
        if (importKeys.isEmpty()) {
            throw new IllegalArgumentException("importKeys must name at least one import key");
        }
        if (importKeys.stream().map(ImportKeyOptions::importKey).distinct().count() != importKeys.size()) {
            throw new IllegalArgumentException("importKeys must not repeat an import key: " + importKeys);
        }
        databases = Map.copyOf(databases);
        if (databases.isEmpty()) {
            throw new IllegalArgumentException("databases must map at least one database alias");
        }
        databases.keySet().forEach(Operation::checkAlias);
        if (maxRetryDelay == null || maxRetryDelay.isNegative()) {
            throw new IllegalArgumentException("maxRetryDelay must not be negative, was " + maxRetryDelay);
        }
        if (batchesInFlight < 1) {
            throw new IllegalArgumentException("batchesInFlight must be positive, was " + batchesInFlight);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link StorageSyncOptions}; {@link #build()} validates and names the bad option. */
    public static final class Builder {

        private String name = DEFAULT_NAME;
        private final List<ImportKeyOptions> importKeys = new ArrayList<>();
        private final Map<String, ConnectionFactory> databases = new LinkedHashMap<>();
        private boolean untilEmpty;
        private Duration maxRetryDelay = DEFAULT_MAX_RETRY_DELAY;
        private int batchesInFlight = DEFAULT_BATCHES_IN_FLIGHT;
        private DeadLetterStore deadLetters;

        private Builder() {
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public Builder importKey(ImportKeyOptions options) {
            importKeys.add(Objects.requireNonNull(options, "importKey"));
            return this;
        }

        /** Maps a database alias to a connection factory (wrap it in an r2dbc-pool {@code ConnectionPool}). */
        public Builder database(String alias, ConnectionFactory factory) {
            databases.put(alias, Objects.requireNonNull(factory, "database " + alias));
            return this;
        }

        public Builder untilEmpty(boolean untilEmpty) {
            this.untilEmpty = untilEmpty;
            return this;
        }

        public Builder maxRetryDelay(Duration maxRetryDelay) {
            this.maxRetryDelay = maxRetryDelay;
            return this;
        }

        public Builder batchesInFlight(int batchesInFlight) {
            this.batchesInFlight = batchesInFlight;
            return this;
        }

        /** Where queue members that are not operations go; {@code null} (the default) logs them. */
        public Builder deadLetters(DeadLetterStore deadLetters) {
            this.deadLetters = deadLetters;
            return this;
        }

        public StorageSyncOptions build() {
            return new StorageSyncOptions(name, importKeys, databases, untilEmpty, maxRetryDelay, batchesInFlight,
                    deadLetters);
        }
    }
}
