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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
 * {@code ./pipeline verify} of an oplog-file pipeline (docs/verify.md): the log's final state up to the
 * checkpoints against ClickHouse, a PostgreSQL sink and the Redis hot storage, while the service follows the log; rows changed,
 * deleted and inserted behind the pipeline's back reported by key and repaired through the sinks; a
 * verify while lines keep coming reports no difference; the running service verifies on request too; a
 * table keyed by two fields, written in append mode, is compared by each key's latest row.
 */
@ExtendWith({PostgresServerExtension.class, ClickHouseServerExtension.class, RedisServerExtension.class})
class OplogVerifyIntegrationTest {

    private static final Duration T = Duration.ofSeconds(90);
    private static final int CHANGES = 5000;

    @Test
    void verifyOfAnOplogPipelineComparesTheLogsFinalStateUpToTheCheckpointsAndRepairsThroughTheSinks(PostgresServer pg,
            ClickHouseServer ch, RedisServer redis, @TempDir Path dir) throws Exception {
        Path log = dir.resolve("shop.log");
        Demo.Expected expected = Demo.generate(log, CHANGES, 7);
        // a second pipeline: JSON lines of a table keyed by two fields
        Path pairsLog = dir.resolve("pairs.log");
        StringBuilder pairLines = new StringBuilder();
        for (int i = 1; i <= 300; i++) {
            pairLines.append("{\"op\":\"insert\",\"table\":\"app.pair\",\"key\":{\"a\":").append(i % 7)
                    .append(",\"b\":").append(i).append("},\"values\":{\"v\":\"v").append(i).append("\"}}\n");
        }
        pairLines.append("{\"op\":\"delete\",\"table\":\"app.pair\",\"key\":{\"a\":1,\"b\":1}}\n");
        Files.writeString(pairsLog, pairLines);
        String targetDb = pg.createDatabase("oplog_verify_target");
        pg.execute(targetDb, "CREATE TABLE shop_order (id bigint PRIMARY KEY, uuid uuid, customer int, status text,"
                + " total numeric(12, 2), created timestamp)");
        String chDb = ch.createDatabase("oplog_verify");
        String table = chDb + ".shop_order";
        Path config = dir.resolve("service.yaml");
        String hot = chDb + ":";
        Files.writeString(config, config(dir, log, ch.httpUrl(), chDb, pg.r2dbcUrl(targetDb), pairsLog, redis.uri(), hot));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
            // the tables are made by the sinks' first writes
            await().atMost(T).pollInterval(Duration.ofMillis(300)).ignoreExceptions().untilAsserted(() -> {
                assertThat(live(ch, table)).isEqualTo(expected.liveOrders());
                assertThat(pg.execute(targetDb, "SELECT count(*) FROM shop_order").trim())
                        .isEqualTo(Long.toString(expected.liveOrders()));
            });

            // an append-mode table: each key's latest row
            String latestPairs = "SELECT count() FROM (SELECT * FROM " + chDb + ".app_pair ORDER BY version DESC LIMIT 1 BY a, b)"
                    + " WHERE is_deleted = 0";
            await().atMost(T).ignoreExceptions().untilAsserted(() -> assertThat(ch.execute(latestPairs).trim())
                    .isEqualTo("299"));
            Map.Entry<Integer, String> clean = VerifyIntegrationTest.verify(config);
            assertThat(clean.getKey()).as(clean.getValue()).isEqualTo(Cli.OK);
            assertThat(clean.getValue()).contains("pipeline shop:\n  log " + log)
                    .contains("table shop.order of the log against sink clickhouse:")
                    .contains(table + " (replacing), 6 column(s) compared")
                    .contains("table shop.order of the log against sink postgres:")
                    .contains("public.shop_order (postgres), 6 column(s) compared")
                    .contains("table shop.order of the log against sink redis-hot-storage:")
                    .contains(hot + "shop.order:pk:* (hot storage), 6 column(s) compared")
                    .contains("digested " + String.format("%,d", expected.liveOrders()) + " row(s) ("
                            + String.format("%,d", expected.liveOrders()) + " in the target)")
                    .contains("pipeline pairs:\n  log " + pairsLog)
                    .contains("table app.pair of the log against sink clickhouse:")
                    .contains(chDb + ".app_pair (append), 3 column(s) compared")
                    // a column named as ClickHouse's digest query once named its bucket (b) is the table's own
                    .containsPattern("digested 299 row\\(s\\) \\(299 in the target\\) in 1 bucket\\(s\\): [^\\n]*; 0 bucket\\(s\\) differ")
                    .contains("equal: every table compared holds what its source holds");

            // a key of two fields: reported as (a, b), repaired
            ch.execute("INSERT INTO " + chDb + ".app_pair (a, b, v, version, is_deleted) SELECT a, b, 'hacked',"
                    + " max(version) + 1, 0 FROM " + chDb + ".app_pair WHERE a = 3 AND b = 10 GROUP BY a, b");
            ch.execute("INSERT INTO " + chDb + ".app_pair (a, b, v, version, is_deleted) VALUES (9, 9, 'ghost', 1, 0)");
            Map.Entry<Integer, String> pairs = VerifyIntegrationTest.verify(config, "--pipeline", "pairs", "--settle", "1s");
            assertThat(pairs.getKey()).as(pairs.getValue()).isEqualTo(Cli.FAILED);
            assertThat(pairs.getValue()).contains("2 key(s) differ: 0 missing from the target, 1 extra in it, 1 different")
                    .contains("extra in the target (1):\n        (9, 9)\n")
                    .contains("(3, 10): v v10 (source) / hacked (target)");
            assertThat(VerifyIntegrationTest.verify(config, "--pipeline", "pairs", "--settle", "1s", "--repair").getValue())
                    .contains("repair: wrote 1 row(s) and 1 delete(s) of app.pair again through sink clickhouse");
            Map.Entry<Integer, String> pairsAgain = VerifyIntegrationTest.verify(config, "--pipeline", "pairs");
            assertThat(pairsAgain.getKey()).as(pairsAgain.getValue()).isEqualTo(Cli.OK);

            // behind the pipeline's back: a row changed, one deleted and one inserted in ClickHouse; a row
            // deleted and one changed in the PostgreSQL target
            List<String> ids = List.of(pg.execute(targetDb, "SELECT id FROM shop_order ORDER BY id LIMIT 5").trim()
                    .split("\\s+"));
            ch.execute("INSERT INTO " + table + " SELECT id, uuid, customer, 'hacked', total, created, version + 1, 0 FROM "
                    + table + " FINAL WHERE id = " + ids.get(0));
            ch.execute("INSERT INTO " + table + " SELECT id, uuid, customer, status, total, created, version + 1, 1 FROM "
                    + table + " FINAL WHERE id = " + ids.get(1));
            ch.execute("INSERT INTO " + table + " VALUES (900001, '00000000-0000-0000-0000-000000000001', 1, 'ghost', 1,"
                    + " '2024-01-01 00:00:00', 1, 0)");
            pg.execute(targetDb, "DELETE FROM shop_order WHERE id = " + ids.get(2) + "; UPDATE shop_order SET total = 0.5"
                    + " WHERE id = " + ids.get(3));
            // and an object removed and one changed in the hot storage
            RedisClient client = RedisClient.create(redis.uri());
            try (StatefulRedisConnection<String, String> r = client.connect()) {
                assertThat(r.sync().del(hot + "shop.order:pk:" + ids.get(4))).isEqualTo(1);
                String key = hot + "shop.order:pk:" + ids.get(0);
                r.sync().set(key, r.sync().get(key).replaceFirst("\"status\": ?\"\\w+\"", "\"status\":\"lost\""));
            } finally {
                client.shutdown();
            }

            Map.Entry<Integer, String> found = VerifyIntegrationTest.verify(config, "--table", "shop.order", "--settle", "1s");
            assertThat(found.getKey()).as(found.getValue()).isEqualTo(Cli.FAILED);
            assertThat(found.getValue())
                    .contains("3 key(s) differ: 1 missing from the target, 1 extra in it, 1 different")
                    .contains("missing from the target (1):\n        " + ids.get(1) + "\n")
                    .contains("extra in the target (1):\n        900001\n")
                    .containsPattern(ids.get(0) + ": status \\w+ \\(source\\) / hacked \\(target\\)")
                    .contains("2 key(s) differ: 1 missing from the target, 0 extra in it, 1 different")
                    .contains("missing from the target (1):\n        " + ids.get(2) + "\n")
                    .containsPattern(ids.get(3) + ": total [0-9.]+ \\(source\\) / 0.50 \\(target\\)")
                    .contains("missing from the target (1):\n        " + ids.get(4) + "\n")
                    .containsPattern(ids.get(0) + ": status \\w+ \\(source\\) / lost \\(target\\)");

            Map.Entry<Integer, String> repaired = VerifyIntegrationTest.verify(config, "--pipeline", "shop", "--repair",
                    "--settle", "1s");
            assertThat(repaired.getKey()).as(repaired.getValue()).isEqualTo(Cli.FAILED);
            assertThat(repaired.getValue())
                    .contains("repair: wrote 2 row(s) and 1 delete(s) of shop.order again through sink clickhouse")
                    .contains("repair: wrote 2 row(s) and 0 delete(s) of shop.order again through sink postgres")
                    .contains("repair: wrote 2 row(s) and 0 delete(s) of shop.order again through sink redis-hot-storage");
            Map.Entry<Integer, String> again = VerifyIntegrationTest.verify(config);
            assertThat(again.getKey()).as(again.getValue()).isEqualTo(Cli.OK);
            assertThat(live(ch, table)).isEqualTo(expected.liveOrders());

            // lines keep coming while a verify runs: none is a difference
            AtomicBoolean writing = new AtomicBoolean(true);
            AtomicInteger written = new AtomicInteger();
            Thread writer = new Thread(() -> {
                while (writing.get()) {
                    append(log, 1 + ThreadLocalRandom.current().nextInt(CHANGES / 5), written.incrementAndGet());
                    await().pollDelay(Duration.ofMillis(5)).until(() -> true);
                }
            }, "writer");
            writer.start();
            Map.Entry<Integer, String> busy;
            try {
                await().atMost(T).until(() -> written.get() > 50);
                busy = VerifyIntegrationTest.verify(config, "--settle", "2s");
            } finally {
                writing.set(false);
                writer.join(T.toMillis());
            }
            assertThat(busy.getKey()).as(busy.getValue()).isEqualTo(Cli.OK);

            // the endpoint: the running service verifies too; a repair is the command line's
            HttpResponse<String> asked = service.post("/api/pipelines/shop/verify", ServiceUnderTest.TOKEN,
                    "{\"table\": \"shop.order\"}");
            assertThat(asked.statusCode()).as(asked.body()).isEqualTo(200);
            assertThat(ServiceUnderTest.json(asked).get("report").asText())
                    .contains("table shop.order of the log against sink clickhouse:");
            assertThat(service.pipeline("shop").get("sourceParts").get("verify shop.order against sink postgres").asText())
                    .startsWith("equal, ");
            HttpResponse<String> unknown = service.post("/api/pipelines/shop/verify", ServiceUnderTest.TOKEN,
                    "{\"table\": \"nothing\"}");
            assertThat(unknown.statusCode()).isEqualTo(404);
            assertThat(unknown.body()).contains("its tables: shop.order");
            HttpResponse<String> repair = service.post("/api/pipelines/shop/verify", ServiceUnderTest.TOKEN,
                    "{\"repair\": true}");
            assertThat(repair.statusCode()).isEqualTo(409);
            assertThat(repair.body()).contains("./pipeline verify --repair");
            assertThat(service.terminate(Duration.ofSeconds(60))).isZero();
        }
    }

    /** Appends an update of order {@code id}: a new status and total. */
    private static void append(Path log, int id, int n) {
        String line = (1_800_000_000L + n) + " SAVE [{\"model\": \"shop.order\", \"pk\": " + id + ", \"fields\": {\"uuid\": \""
                + new java.util.UUID(0x5EED_0000_0000_4000L | id, 0x8000_0000_0000_0000L | id) + "\", \"customer\": "
                + (1 + id % 5000) + ", \"status\": \"busy" + n + "\", \"total\": \"" + n + ".25\", \"created\":"
                + " \"2024-02-01T10:00:00Z\"}}]\n";
        try {
            Files.writeString(log, line, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static long live(ClickHouseServer ch, String table) {
        return Long.parseLong(ch.execute("SELECT count() FROM " + table + " FINAL WHERE is_deleted = 0").trim());
    }

    private static String config(Path dir, Path log, String clickHouseUrl, String chDb, String targetUrl, Path pairs,
            String redisUri, String hotPrefix) {
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
                    target:
                      url: "%5$s"
                  redis:
                    hot:
                      uri: "%8$s"
                  clickhouse:
                    test:
                      endpoints: ["%3$s"]
                      database: %4$s
                pipelines:
                  - name: shop
                    source:
                      type: oplog-file
                      path: %2$s
                      mode: follow
                      pollInterval: 100ms
                      verify:
                        every: 1h
                        settle: 1s
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          shop.order:
                            create:
                              columns: ["id UInt64", "uuid UUID", "customer UInt32", "status String", "total Decimal(12, 2)", "created DateTime"]
                              orderBy: [id]
                      - type: postgres
                        connection: target
                      - type: redis-hot-storage
                        connection: hot
                        keyPrefix: "%9$s"
                  - name: pairs
                    source:
                      type: oplog-file
                      path: %7$s
                      format: json-lines
                      mode: follow
                      pollInterval: 100ms
                    sinks:
                      - type: clickhouse
                        connection: test
                        mode: append
                        tables:
                          app.pair:
                            create:
                              columns: ["a Int32", "b Int32", "v String", "is_deleted UInt8"]
                              orderBy: [a, b]
                """.formatted(dir, log, clickHouseUrl, chDb, targetUrl, ServiceUnderTest.TOKEN, pairs, redisUri, hotPrefix);
    }
}
