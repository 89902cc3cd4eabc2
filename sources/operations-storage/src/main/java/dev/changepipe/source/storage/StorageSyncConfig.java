package dev.changepipe.source.storage;

import dev.changepipe.spi.Connection;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.Settings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The keys of a {@code type: storage-sync} section (docs/options.md is generated from them). */
record StorageSyncConfig(
        @Key(value = "the Redis of the operations storage", required = true, connection = Redis.class)
        String connection,
        @Key("the prefix of the storage's keys (django-clickhouse's own by default)") String keyPrefix,
        @Key(value = "how long an import key's sync lock lives unless renewed (renewed every third of it while"
                + " it syncs), so how soon a killed worker's import keys are taken over; from 1s to 10m")
        Duration lockTimeout,
        @Key(value = "the import keys to sync (django-clickhouse's `<app>.<model>`, or your own names)",
                required = true)
        Map<String, ImportKey> importKeys,
        @Key(value = "database alias (an operation's `dbAlias`): the PostgreSQL connection its rows are read from",
                required = true, connection = Postgres.class)
        Map<String, String> databases,
        @Key(value = "connections per database", min = 1, max = 1000) Integer maxConnections,
        @Key("complete once the queue is empty (a backlog run), instead of waiting for more") Boolean untilEmpty,
        @Key(value = "batches emitted and not yet written: the next one is fetched while one is written", min = 1, max = 16) Integer batchesInFlight,
        @Key("compare the tables with the sinks' while the pipeline runs, on a schedule (docs/verify.md)") dev.changepipe.verify.VerifyConfig verify) {

    static final int DEFAULT_MAX_CONNECTIONS = 4;

    StorageSyncConfig {
        keyPrefix = keyPrefix == null ? StorageOptions.DEFAULT_KEY_PREFIX : keyPrefix;
        lockTimeout = lockTimeout == null ? StorageOptions.DEFAULT_LOCK_TIMEOUT : lockTimeout;
        importKeys = importKeys == null ? Map.of() : importKeys;
        databases = databases == null ? Map.of() : databases;
        maxConnections = maxConnections == null ? DEFAULT_MAX_CONNECTIONS : maxConnections;
        untilEmpty = untilEmpty != null && untilEmpty;
        batchesInFlight = batchesInFlight == null ? StorageSyncOptions.DEFAULT_BATCHES_IN_FLIGHT : batchesInFlight;
    }

    /**
     * The options of every import key, defaults applied as the source applies them (an import key with
     * nothing under it takes them all); a refusal names the key's path under {@code section}.
     */
    List<ImportKeyOptions> importKeyOptions(Settings section) {
        List<ImportKeyOptions> out = new ArrayList<>();
        importKeys.forEach((name, given) -> {
            ImportKey k = given != null ? given : new ImportKey(null, null, null, null, null);
            ImportKeyOptions.Builder b = ImportKeyOptions.builder(name)
                    .keyColumn(k.keyColumn())
                    .batchSize(k.batchSize())
                    .delay(k.delay());
            if (k.model() != null) {
                b.model(k.model());
            }
            if (k.table() != null) {
                b.table(k.table());
            }
            out.add(section.build("importKeys." + name, b::build));
        });
        return out;
    }

    /** A verify the pipeline runs itself, every {@code every}; off when absent. */
    /** One import key. */
    record ImportKey(
            @Key(value = "the table id the change items carry (`app.model`)", defaultText = "the import key") String model,
            @Key(value = "the PostgreSQL table rows are read from", defaultText = "the model with `_` for `.` (`app_model`)")
            String table,
            @Key("the primary-key column") String keyColumn,
            @Key(value = "most operations per batch", min = 1, max = 10_000_000) Integer batchSize,
            @Key("pause after a round that did not fill a batch (a full one is followed at once)") Duration delay) {

        ImportKey {
            keyColumn = keyColumn == null ? ImportKeyOptions.DEFAULT_KEY_COLUMN : keyColumn;
            batchSize = batchSize == null ? ImportKeyOptions.DEFAULT_BATCH_SIZE : batchSize;
            delay = delay == null ? ImportKeyOptions.DEFAULT_DELAY : delay;
        }
    }

    /** {@code connections.redis.<name>}. */
    @Connection("redis")
    record Redis(@Key(value = "a `redis://host:port` URI (credentials allowed, never logged)", required = true) String uri) {
    }

    /** {@code connections.postgres.<name>}. */
    @Connection("postgres")
    record Postgres(@Key(value = "an `r2dbc:postgresql://` URL (its password is never logged)", required = true) String url) {
    }
}
