package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Pipeline;
import dev.changepipe.sink.clickhouse.ClickHouseWriteException;
import dev.changepipe.sink.clickhouse.WriteMode;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.r2dbc.pool.ConnectionPool;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import reactor.core.Disposable;

/**
 * Handing a django-clickhouse sync over to the worker (docs/operations-storage.md): the ClickHouse
 * table is the one django-clickhouse's migration made and holds what it synced. A replacing model's
 * {@code ReplacingMergeTree()} has no version column (FINAL would keep any row); a collapsing model's
 * {@code CollapsingMergeTree(sign)} has a {@code UInt32} version. The worker refuses either table at its
 * first write, writes nothing and removes no operation; after the statements its error prints, the
 * rows django-clickhouse synced and the worker's creates, updates and deletes under concurrent
 * application changes end equal to PostgreSQL after FINAL.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class DjangoClickHouseHandoverIntegrationTest {

    private static final Duration T = Duration.ofSeconds(120);
    /** EndToEnd's table with the date django-clickhouse models partition by, spread over three months. */
    private static final String PG_TABLE = "CREATE TABLE app_model (id bigserial PRIMARY KEY, name text NOT NULL, "
            + "counter bigint NOT NULL, amount numeric(12,2), updated timestamp NOT NULL DEFAULT now(), "
            + "created_date date NOT NULL DEFAULT (date '2024-01-01' + (random() * 90)::int))";

    @ParameterizedTest
    @EnumSource(value = WriteMode.class, names = {"REPLACING", "COLLAPSING"})
    void aDjangoClickHouseTableIsRefusedUntilMigratedThenEndsEqualToPostgres(WriteMode mode, RedisServer redis,
            PostgresServer pg, ClickHouseServer ch) {
        boolean replacing = mode == WriteMode.REPLACING;
        String pgDb = pg.createDatabase("handover");
        pg.execute(pgDb, PG_TABLE);
        pg.execute(pgDb, "INSERT INTO app_model (name, counter, amount) SELECT 'n' || g, g, 1.25"
                + " FROM generate_series(1, 300) g");
        String chDb = ch.createDatabase("handover");
        ch.execute("CREATE TABLE " + chDb + ".app_model (id UInt64, name String, counter Int64, created_date Date"
                + (replacing ? ") ENGINE = ReplacingMergeTree()" : ", version UInt32, sign Int8) ENGINE = "
                + "CollapsingMergeTree(sign)") + " PARTITION BY toYYYYMM(created_date) ORDER BY id");
        // what django-clickhouse synced before the handover (its collapsing rows: version 1, sign 1)
        List<String> synced = new ArrayList<>();
        for (String line : pg.execute(pgDb, "SELECT id || ',' || quote_literal(name) || ',' || counter || ','"
                + " || quote_literal(created_date::text) FROM app_model ORDER BY id").lines().toList()) {
            if (!line.isBlank()) {
                synced.add("(" + line + (replacing ? ")" : ", 1, 1)"));
            }
        }
        ch.execute("INSERT INTO " + chDb + ".app_model VALUES " + String.join(", ", synced));

        RedisStorage storage = RedisStorage.connect(redis.uri(), StorageOptions.builder()
                .keyPrefix("handover" + UUID.randomUUID().toString().substring(0, 8)).build());
        ConnectionPool appPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 8);
        ConnectionPool workerPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 2);
        try {
            // the application keeps registering operations, as it did for django-clickhouse
            long before = EndToEnd.writers(appPool, storage, 11, 4, new AtomicBoolean(true), 200).block(T);
            assertThat(before).isGreaterThan(100);
            long queued = storage.operationsCount(EndToEnd.IMPORT_KEY).block(T);
            assertThat(queued).isPositive();

            Pipeline refused = EndToEnd.pipeline("handover", storage, workerPool, ch.httpUrl(), chDb, false, 100,
                    Duration.ofMillis(20), mode);
            Throwable failure = catchThrowable(() -> refused.run().block(T));
            ClickHouseWriteException c = cause(failure, ClickHouseWriteException.class);
            assertThat(c).as("a ClickHouseWriteException in %s", failure).isNotNull();
            assertThat(c.isRetryable()).isFalse();
            assertThat(c.getMessage()).contains("table app_model")
                    .contains(chDb + ".app_model does not fit the " + mode.name().toLowerCase() + " mode");
            if (replacing) {
                assertThat(c.getMessage()).contains("ReplacingMergeTree() without a version column")
                        .contains("CREATE TABLE `" + chDb + "`.`app_model__changepipe_new`")
                        .contains("INSERT INTO `" + chDb + "`.`app_model__changepipe_new`")
                        .contains("RENAME TABLE `" + chDb + "`.`app_model` TO `" + chDb + "`.`app_model__changepipe_old`");
            } else {
                assertThat(c.getMessage()).contains("column version has type UInt32")
                        .contains("ALTER TABLE `" + chDb + "`.`app_model` MODIFY COLUMN `version` UInt64");
            }
            assertThat(ch.execute("SELECT count() FROM " + chDb + ".app_model")).as("nothing written")
                    .isEqualTo(synced.size() + "\n");
            assertThat(storage.operationsCount(EndToEnd.IMPORT_KEY).block(T)).as("no operation removed")
                    .isEqualTo(queued);

            runStatements(ch, c.getMessage());
            assertThat(ch.execute("SELECT count() FROM " + chDb + ".app_model")).as("the rows django-clickhouse synced")
                    .isEqualTo(synced.size() + "\n");
            Pipeline worker = EndToEnd.pipeline("handover", storage, workerPool, ch.httpUrl(), chDb, false, 100,
                    Duration.ofMillis(20), mode);
            Disposable run = worker.run().subscribe();
            try {
                long done = EndToEnd.writers(appPool, storage, 13, 8, new AtomicBoolean(true), 1500).block(T);
                assertThat(done).isGreaterThan(1000);
                await().atMost(T).pollInterval(Duration.ofMillis(50))
                        .until(() -> storage.operationsCount(EndToEnd.IMPORT_KEY).block(T) == 0);
                assertThat(worker.status().state()).isEqualTo(Pipeline.State.RUNNING);
            } finally {
                worker.stop();
                await().atMost(T).until(run::isDisposed);
            }
            String postgres = pg.execute(pgDb, "SELECT id || chr(9) || name || chr(9) || counter || chr(9) || created_date"
                    + " FROM app_model ORDER BY id");
            String visible = "SELECT id, name, counter, created_date FROM " + chDb + ".app_model FINAL"
                    + (replacing ? " WHERE is_deleted = 0" : "") + " ORDER BY id FORMAT TabSeparated";
            List<String> pgRows = postgres.lines().filter(l -> !l.isBlank()).toList();
            assertThat(pgRows).hasSizeGreaterThan(300);
            assertThat(ch.execute(visible).lines().toList()).as("ClickHouse FINAL equals PostgreSQL")
                    .containsExactlyElementsOf(pgRows);
            ch.execute("OPTIMIZE TABLE " + chDb + ".app_model FINAL");
            assertThat(ch.execute(visible).lines().toList()).as("and after a merge")
                    .containsExactlyElementsOf(pgRows);
        } finally {
            appPool.dispose();
            workerPool.dispose();
            storage.close().block(T);
        }
    }

    private static <X extends Throwable> X cause(Throwable e, Class<X> type) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            for (Throwable s : t.getSuppressed()) {
                X found = cause(s, type);
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    /** Runs the statements the refusal prints (its lines that end with a semicolon), in order. */
    private static void runStatements(ClickHouseServer ch, String message) {
        List<String> statements = message.lines()
                .filter(l -> l.endsWith(";") && l.matches("(CREATE|INSERT|RENAME|ALTER) .*"))
                .map(l -> l.substring(0, l.length() - 1))
                .toList();
        assertThat(statements).as("statements in: " + message).isNotEmpty();
        statements.forEach(ch::execute);
    }
}
