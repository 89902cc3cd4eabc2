package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.source.storage.OperationBatch;
import dev.changepipe.source.storage.RedisStorage;
import dev.changepipe.source.storage.StorageOptions;
import dev.changepipe.source.storage.SyncLease;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The handover procedure of docs/operations-storage.md, run as written: {@code ./pipeline handover
 * --from django-clickhouse} refuses while django-clickhouse's sync holds the lock and while the table
 * its migration made does not fit, then lets the service sync; {@code --to django-clickhouse} stops the
 * service's workers from taking new leases, puts a batch a dead worker left back into the queue, and
 * prints the statement after which django-clickhouse's inserts (which carry no version) win over the
 * rows the service wrote.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class HandoverIntegrationTest {

    private static final Duration T = Duration.ofSeconds(60);
    private static final String IMPORT_KEY = "Order";

    @Test
    void handoverFromAndBackToDjangoClickHouseAsDocumented(RedisServer redis, PostgresServer pg, ClickHouseServer ch,
            @TempDir Path dir) throws Exception {
        String app = pg.createDatabase("handover_app");
        pg.execute(app, "CREATE TABLE shop_order (id bigint PRIMARY KEY, status text NOT NULL, created_date date NOT NULL)");
        pg.execute(app, "INSERT INTO shop_order SELECT g, 'new', date '2024-01-01' + g % 60 FROM generate_series(1, 50) g");
        String chDb = ch.createDatabase("handover");
        // as django-clickhouse's migration makes a replacing model's table
        ch.execute("CREATE TABLE " + chDb + ".shop_order (id UInt64, status String, created_date Date) "
                + "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(created_date) ORDER BY id");
        String prefix = "h" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, """
                http:
                  port: 0
                  portFile: %1$s/http.port
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  redis:
                    queue:
                      uri: %2$s
                  postgres:
                    app:
                      url: %3$s
                  clickhouse:
                    analytics:
                      endpoints: ["%4$s"]
                      database: %5$s
                pipelines:
                  - name: orders
                    source:
                      type: storage-sync
                      connection: queue
                      keyPrefix: %6$s
                      lockTimeout: 1s
                      importKeys:
                        %7$s:
                          model: shop.order
                          table: shop_order
                          delay: 100ms
                      databases:
                        default: app
                    sinks:
                      - type: clickhouse
                        connection: analytics
                        tables:
                          shop.order:
                            target: shop_order
                """.formatted(dir, redis.uri(), pg.r2dbcUrl(app), ch.httpUrl(), chDb, prefix, IMPORT_KEY));
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> r = connection.sync();
            String queue = prefix + ":operations:" + IMPORT_KEY;
            for (int id = 1; id <= 50; id++) {
                r.zadd(queue, 1_700_000_000.0 + id, "insert:default." + id);   // what django-clickhouse registers
            }
            // django-clickhouse's sync is running: its redis-py lock and lock_pid
            r.set(prefix + ":lock:" + IMPORT_KEY, "6f1c0f5e0d2a4b8c9e7f1a2b3c4d5e6f", SetArgs.Builder.px(60_000));
            r.set(prefix + ":lock_pid:" + IMPORT_KEY, "4242");

            Map.Entry<Integer, String> refused = ServiceUnderTest.launcher(Map.of(), "handover", "--from",
                    "django-clickhouse", "--config", config.toString());
            assertThat(refused.getKey()).as(refused.getValue()).isEqualTo(Cli.FAILED);
            assertThat(refused.getValue())
                    .contains("import key Order: django-clickhouse's sync holds the lock (lock_pid 4242")
                    .contains("stop its periodic sync")
                    .contains(chDb + ".shop_order")
                    .contains("ReplacingMergeTree")
                    .contains("not ready: 2 problem(s)");
            assertThat(r.zcard(queue)).as("nothing taken from the queue").isEqualTo(50);

            // django-clickhouse's round ends and its beat task is removed; the printed migration is run
            r.del(prefix + ":lock:" + IMPORT_KEY, prefix + ":lock_pid:" + IMPORT_KEY);
            List<String> migration = refused.getValue().lines().map(String::trim)
                    .filter(l -> l.endsWith(";") && l.matches("(CREATE|INSERT|RENAME|ALTER) .*"))
                    .map(l -> l.substring(0, l.length() - 1))
                    .toList();
            assertThat(migration).as(refused.getValue()).isNotEmpty();
            migration.forEach(ch::execute);

            Map.Entry<Integer, String> ready = ServiceUnderTest.launcher(Map.of(), "handover", "--from",
                    "django-clickhouse", "--config", config.toString());
            assertThat(ready.getKey()).as(ready.getValue()).isEqualTo(Cli.OK);
            assertThat(ready.getValue()).contains("import key Order: 50 operation(s) queued")
                    .contains("table " + chDb + ".shop_order fits (replacing)")
                    .contains("ready:");

            try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
                await().ignoreExceptions().atMost(T).until(() -> count(ch, chDb, "").equals("50"));
                pg.execute(app, "UPDATE shop_order SET status = 'paid' WHERE id = 7");
                pg.execute(app, "DELETE FROM shop_order WHERE id = 8");
                r.zadd(queue, 1_700_000_100.0, "update:default.7");
                r.zadd(queue, 1_700_000_101.0, "delete:default.8");
                await().ignoreExceptions().atMost(T).until(() -> count(ch, chDb, "").equals("49")
                        && count(ch, chDb, " AND id = 7 AND status = 'paid'").equals("1"));
                assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
            }

            // a worker that died with a batch fetched: its lease expires, its batch stays open
            pg.execute(app, "UPDATE shop_order SET status = 'sent' WHERE id IN (1, 2, 3)");
            r.zadd(queue, 1_700_000_200.0, "update:default.1");
            r.zadd(queue, 1_700_000_201.0, "update:default.2");
            r.zadd(queue, 1_700_000_202.0, "update:default.3");
            RedisStorage dead = RedisStorage.connect(redis.uri(), StorageOptions.builder().keyPrefix(prefix)
                    .lockTimeout(Duration.ofSeconds(1)).build());
            try {
                // the stopped service gave the lock back (once seen still held here: a stop had cancelled the
                // release in flight, fixed in StorageSyncSource.end); the worker tries until it has it
                SyncLease[] taken = new SyncLease[1];
                await().atMost(T).until(() -> (taken[0] = dead.preSync(IMPORT_KEY).block(T)) != null);
                SyncLease lease = taken[0];
                OperationBatch batch = dead.getOperations(lease, 10).block(T);
                assertThat(batch.size()).isEqualTo(3);
            } finally {
                dead.close().block(T);
            }
            assertThat(r.zcard(queue)).isZero();

            Map.Entry<Integer, String> back = ServiceUnderTest.launcher(Map.of(), "handover", "--to",
                    "django-clickhouse", "--config", config.toString());
            assertThat(back.getKey()).as(back.getValue()).isEqualTo(Cli.OK);
            assertThat(back.getValue())
                    .contains("import key Order: handed over; put back 3 operation(s) of 1 open batch(es); "
                            + "3 operation(s) queued for django-clickhouse; lock free")
                    .contains("MODIFY COLUMN `version` UInt64 DEFAULT");
            assertThat(r.zrange(queue, 0, -1)).containsExactly("update:default.1", "update:default.2", "update:default.3");
            assertThat(r.scard(prefix + ":batches:" + IMPORT_KEY)).isZero();

            // the service, started again by mistake, takes no lease on a key handed over
            try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
                await().atMost(T).until(() -> service.get("/health/live").statusCode() == 200);
                await().atMost(T).until(() -> service.output().contains("was handed over to another syncer"));
                assertThat(r.zcard(queue)).isEqualTo(3);
                assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
            }

            // django-clickhouse inserts without a version: after the printed statement its rows win
            String statement = back.getValue().lines().map(String::trim).filter(l -> l.startsWith("ALTER TABLE"))
                    .findFirst().orElseThrow();
            ch.execute(statement);
            ch.execute("INSERT INTO " + chDb + ".shop_order (id, status, created_date) VALUES (1, 'sent', '2024-01-02')");
            ch.execute("INSERT INTO " + chDb + ".shop_order (id, status, created_date) VALUES (2, 'sent', '2024-01-03')");
            ch.execute("INSERT INTO " + chDb + ".shop_order (id, status, created_date) VALUES (2, 'returned', '2024-01-03')");
            assertThat(ch.execute("SELECT status FROM " + chDb + ".shop_order FINAL WHERE id IN (1, 2) ORDER BY id").trim()
                    .lines().toList()).containsExactly("sent", "returned");

            // and taking it over again clears the mark
            Map.Entry<Integer, String> again = ServiceUnderTest.launcher(Map.of(), "handover", "--from",
                    "django-clickhouse", "--config", config.toString());
            assertThat(again.getKey()).as(again.getValue()).isEqualTo(Cli.OK);
            assertThat(again.getValue()).contains("was handed over to django-clickhouse");
            assertThat(r.exists(prefix + ":handed_over:" + IMPORT_KEY)).isZero();
        } finally {
            client.shutdown();
        }
    }

    private static String count(ClickHouseServer ch, String db, String where) {
        return ch.execute("SELECT count() FROM " + db + ".shop_order FINAL WHERE is_deleted = 0" + where).trim();
    }
}
