package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./pipeline verify} of a postgres-cdc pipeline, through the running service (docs/verify.md),
 * against its three targets, ClickHouse, another PostgreSQL (the PostgreSQL sink) and the Redis hot
 * storage: equal after the snapshot and changes; a row changed, one deleted and one inserted in
 * ClickHouse, a row deleted and one changed in the target PostgreSQL, and an object removed and one changed
 * in the hot storage, behind the pipeline's back, are each reported with its key; {@code --repair} writes them again through the
 * stream and a second verify is equal; a verify while changes keep being made and streamed reports no
 * difference; the scheduled verify's result is the pipeline's status line.
 */
@ExtendWith({PostgresServerExtension.class, ClickHouseServerExtension.class, RedisServerExtension.class})
class PostgresCdcVerifyIntegrationTest {

    private static final Duration T = Duration.ofSeconds(90);
    private static final int ROWS = 3000;

    @Test
    void verifyOfAPostgresCdcPipelineReportsTheKeysThatDifferAndRepairsThemThroughTheStream(PostgresServer pg,
            ClickHouseServer ch, RedisServer redis, @TempDir Path dir) throws Exception {
        String pgDb = pg.createDatabase("cdc_verify");
        pg.execute(pgDb, "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2), "
                + "created timestamp NOT NULL); INSERT INTO orders SELECT g, 'new', g * 1.25, "
                + "timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, " + ROWS + ") g; "
                + "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b)); "
                + "INSERT INTO pairs SELECT g % 10, g, 'v' || g FROM generate_series(1, 200) g");
        String targetDb = pg.createDatabase("cdc_verify_target");
        pg.execute(targetDb, "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, total numeric(10,2), "
                + "created timestamp NOT NULL); CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))");
        String chDb = ch.createDatabase("cdc_verify");
        String table = chDb + ".orders";
        ch.execute("CREATE TABLE " + table + " (id Int64, status String, total Nullable(Decimal(10, 2)), created DateTime,"
                + " version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        ch.execute("CREATE TABLE " + chDb + ".pairs (a Int32, b Int32, v Nullable(String), version UInt64, is_deleted UInt8)"
                + " ENGINE = ReplacingMergeTree(version) ORDER BY (a, b)");
        Path config = dir.resolve("service.yaml");
        String hot = pgDb + ":";
        Files.writeString(config, config(dir, pg.r2dbcUrl(pgDb), ch.httpUrl(), chDb, pgDb, pg.r2dbcUrl(targetDb),
                redis.uri(), hot));
        String slot = "changepipe_" + pgDb;
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
            pg.execute(pgDb, "UPDATE orders SET status = 'paid' WHERE id <= 100; DELETE FROM orders WHERE id > 2990");
            await().atMost(T).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
                assertThat(clickHouse(ch, table)).containsExactlyElementsOf(postgres(pg, pgDb));
                assertThat(postgres(pg, targetDb)).containsExactlyElementsOf(postgres(pg, pgDb));
            });

            // every table, the one keyed by two columns too
            await().atMost(T).untilAsserted(() -> assertThat(ch.execute("SELECT count() FROM " + chDb
                    + ".pairs FINAL WHERE is_deleted = 0").trim()).isEqualTo("200"));
            Map.Entry<Integer, String> all = VerifyIntegrationTest.verify(config);
            assertThat(all.getKey()).as(all.getValue()).isEqualTo(Cli.OK);
            assertThat(all.getValue()).contains("table public.orders (PostgreSQL) against sink clickhouse")
                    .contains("digested 2,990 row(s) (2,990 in the target)").contains("    equal")
                    .contains("table public.orders (PostgreSQL) against sink postgres:")
                    .contains("public.orders (postgres), 4 column(s) compared")
                    .contains("table public.orders (PostgreSQL) against sink redis-hot-storage:")
                    .contains(hot + "orders:pk:* (hot storage), 4 column(s) compared")
                    .contains("table public.pairs (PostgreSQL) against sink clickhouse:")
                    .contains(chDb + ".pairs (replacing), 3 column(s) compared")
                    .containsPattern("digested 200 row\\(s\\) \\(200 in the target\\) in 1 bucket\\(s\\): [^\\n]*; 0 bucket\\(s\\) differ");
            Map.Entry<Integer, String> clean = VerifyIntegrationTest.verify(config, "--table", "orders");
            assertThat(clean.getKey()).as(clean.getValue()).isEqualTo(Cli.OK);
            assertThat(clean.getValue()).contains("equal: every table compared holds what its source holds");

            // behind the pipeline's back: a row changed, one deleted and one inserted in ClickHouse
            ch.execute("INSERT INTO " + table + " SELECT id, 'hacked', total, created, version + 1, 0 FROM " + table
                    + " FINAL WHERE id = 5");
            ch.execute("INSERT INTO " + table + " SELECT id, status, total, created, version + 1, 1 FROM " + table
                    + " FINAL WHERE id = 6");
            ch.execute("INSERT INTO " + table + " VALUES (900001, 'ghost', 1, '2024-01-01 00:00:00', 1, 0)");
            pg.execute(targetDb, "DELETE FROM orders WHERE id = 8; UPDATE orders SET total = 0.5 WHERE id = 9");
            RedisClient client = RedisClient.create(redis.uri());
            try (StatefulRedisConnection<String, String> r = client.connect()) {
                r.sync().del(hot + "orders:pk:10");
                r.sync().set(hot + "orders:pk:11", r.sync().get(hot + "orders:pk:11").replace("\"paid\"", "\"lost\""));
            } finally {
                client.shutdown();
            }

            Map.Entry<Integer, String> found = VerifyIntegrationTest.verify(config, "--pipeline", pgDb, "--table", "orders");
            assertThat(found.getKey()).as(found.getValue()).isEqualTo(Cli.FAILED);
            assertThat(found.getValue())
                    .contains("3 key(s) differ: 1 missing from the target, 1 extra in it, 1 different")
                    .contains("missing from the target (1):\n        6\n")
                    .contains("extra in the target (1):\n        900001\n")
                    .contains("5: status paid (source) / hacked (target)")
                    .contains("2 key(s) differ: 1 missing from the target, 0 extra in it, 1 different")
                    .contains("9: total 11.25 (source) / 0.50 (target)")
                    .contains("2 key(s) differ: 1 missing from the target, 0 extra in it, 1 different\n"
                            + "      missing from the target (1):\n        10\n")
                    .contains("11: status paid (source) / lost (target)")
                    .doesNotContain("public.pairs");
            assertThat(service.pipeline(pgDb).get("sourceParts").get("verify public.orders against sink clickhouse")
                    .asText()).startsWith("3 key(s) differ: 1 missing, 1 extra, 1 different");

            Map.Entry<Integer, String> repaired = VerifyIntegrationTest.verify(config, "--table", "orders", "--repair");
            assertThat(repaired.getKey()).as(repaired.getValue()).isEqualTo(Cli.FAILED);
            assertThat(repaired.getValue()).contains("repair: wrote 3 key(s) of table public.orders again through the stream")
                    .contains("repair: wrote 2 key(s) of table public.orders again through the stream")
                    .contains("wrote 2 key(s) of table public.orders again through the stream (1 missing and 1 different");
            Map.Entry<Integer, String> again = VerifyIntegrationTest.verify(config, "--table", "orders");
            assertThat(again.getKey()).as(again.getValue()).isEqualTo(Cli.OK);
            assertThat(clickHouse(ch, table)).containsExactlyElementsOf(postgres(pg, pgDb));
            assertThat(postgres(pg, targetDb)).containsExactlyElementsOf(postgres(pg, pgDb));

            // a table keyed by two columns: its keys reported as (a, b), and repaired through the stream
            ch.execute("INSERT INTO " + chDb + ".pairs SELECT a, b, 'hacked', version + 1, 0 FROM " + chDb
                    + ".pairs FINAL WHERE a = 3 AND b = 13");
            ch.execute("INSERT INTO " + chDb + ".pairs SELECT a, b, v, version + 1, 1 FROM " + chDb
                    + ".pairs FINAL WHERE a = 4 AND b = 14");
            Map.Entry<Integer, String> pairs = VerifyIntegrationTest.verify(config, "--table", "pairs");
            assertThat(pairs.getKey()).as(pairs.getValue()).isEqualTo(Cli.FAILED);
            assertThat(pairs.getValue())
                    .contains("2 key(s) differ: 1 missing from the target, 0 extra in it, 1 different")
                    .contains("missing from the target (1):\n        (4, 14)\n")
                    .contains("(3, 13): v v13 (source) / hacked (target)");
            assertThat(VerifyIntegrationTest.verify(config, "--table", "pairs", "--repair").getValue())
                    .contains("repair: wrote 2 key(s) of table public.pairs again through the stream");
            Map.Entry<Integer, String> pairsAgain = VerifyIntegrationTest.verify(config, "--table", "pairs");
            assertThat(pairsAgain.getKey()).as(pairsAgain.getValue()).isEqualTo(Cli.OK);

            // changes keep coming while a verify runs: none is a difference
            AtomicBoolean writing = new AtomicBoolean(true);
            AtomicInteger written = new AtomicInteger();
            Thread writer = new Thread(() -> {
                while (writing.get()) {
                    int id = 1 + ThreadLocalRandom.current().nextInt(2990);
                    pg.execute(pgDb, "UPDATE orders SET status = 'shipped', total = total + 1 WHERE id = " + id);
                    written.incrementAndGet();
                }
            }, "writer");
            writer.start();
            Map.Entry<Integer, String> busy;
            try {
                await().atMost(T).until(() -> written.get() > 50);
                busy = VerifyIntegrationTest.verify(config, "--table", "orders");
            } finally {
                writing.set(false);
                writer.join(T.toMillis());
            }
            assertThat(busy.getKey()).as(busy.getValue()).isEqualTo(Cli.OK);

            // the endpoint: an unknown table is a 404 naming the tables, a repair needs the token
            HttpResponse<String> unknown = service.post("/api/pipelines/" + pgDb + "/verify", ServiceUnderTest.TOKEN,
                    "{\"table\": \"nothing\"}");
            assertThat(unknown.statusCode()).isEqualTo(404);
            assertThat(unknown.body()).contains("public.orders, public.pairs");
            assertThat(service.post("/api/pipelines/" + pgDb + "/verify", null, "{\"repair\": true}").statusCode())
                    .isEqualTo(401);
            assertThat(service.terminate(Duration.ofSeconds(60))).isZero();
        } finally {
            pg.execute(pgDb, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"
                    + slot + "' AND NOT active");
        }
    }

    private static List<String> postgres(PostgresServer pg, String db) {
        return pg.execute(db, "SELECT id, status, total FROM orders ORDER BY id").lines().filter(l -> !l.isBlank())
                .map(l -> l.replace('|', '\t')).toList();
    }

    private static List<String> clickHouse(ClickHouseServer ch, String table) {
        return ch.execute("SELECT id, status, total FROM " + table + " FINAL WHERE is_deleted = 0 ORDER BY id "
                + "FORMAT TabSeparated").lines().filter(l -> !l.isBlank()).toList();
    }

    private static String config(Path dir, String pgUrl, String clickHouseUrl, String chDb, String pipeline,
            String targetUrl, String redisUri, String hotPrefix) {
        return """
                http:
                  host: 127.0.0.1
                  port: 0
                  portFile: %1$s/http.port
                  token: %6$s
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  postgres:
                    app:
                      url: "%2$s"
                    target:
                      url: "%7$s"
                  redis:
                    hot:
                      uri: "%8$s"
                  clickhouse:
                    test:
                      endpoints: ["%3$s"]
                      database: %4$s
                pipelines:
                  - name: %5$s
                    source:
                      type: postgres-cdc
                      connection: app
                      tables: [orders, pairs]
                      verify:
                        every: 1h
                        settle: 1s
                    sinks:
                      - type: clickhouse
                        connection: test
                      - type: postgres
                        connection: target
                      - type: redis-hot-storage
                        connection: hot
                        keyPrefix: "%9$s"
                """.formatted(dir, pgUrl, clickHouseUrl, chDb, pipeline, ServiceUnderTest.TOKEN, targetUrl, redisUri,
                        hotPrefix);
    }
}
