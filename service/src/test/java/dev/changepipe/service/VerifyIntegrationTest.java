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
import io.lettuce.core.api.sync.RedisCommands;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./pipeline verify} on real servers (docs/verify.md), and a running pipeline's verify (scheduled,
 * and on request with its repair): equal after a clean replication; rows
 * changed, deleted or inserted in ClickHouse behind the pipeline's back, and a row changed in PostgreSQL
 * whose registration was lost (django-clickhouse's {@code on_commit} gap), each reported with its key;
 * {@code --repair} registers them and a second verify is equal; and a verify while changes keep being
 * made and replicated reports no difference.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class VerifyIntegrationTest {

    private static final Duration T = Duration.ofSeconds(90);
    private static final int ROWS = 3000;

    @Test
    void verifyReportsEveryKeyThatDiffersRepairsThemAndSeesNoDifferenceInFlight(RedisServer redis, PostgresServer pg,
            ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String app = pg.createDatabase("verify_app");
        String chDb = ch.createDatabase("verify");
        String prefix = "v" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        Path config = setUp(redis, pg, ch, dir, app, chDb, prefix, "");
        String table = chDb + ".shop_order";
        String queue = prefix + ":operations:Order";
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> connection = client.connect();
                ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
            RedisCommands<String, String> r = connection.sync();
            registerEveryRow(r, queue);
            await().ignoreExceptions().atMost(T).until(() -> ch.execute("SELECT count() FROM " + table + " FINAL")
                    .trim().equals(String.valueOf(ROWS)) && r.zcard(queue) == 0);

            Map.Entry<Integer, String> clean = verify(config);
            assertThat(clean.getKey()).as(clean.getValue()).isEqualTo(Cli.OK);
            assertThat(clean.getValue()).contains("digested 3,000 row(s) (3,000 in the target)").contains("    equal")
                    .contains("8 column(s) compared");

            // behind the pipeline's back: a row changed, one deleted and one inserted in ClickHouse, and a row
            // changed in PostgreSQL whose registration was lost
            String columns = "id, status, total, price, created, created_date, paid, note";
            ch.execute("INSERT INTO " + table + " (" + columns + ", version, is_deleted) SELECT id, 'hacked', total,"
                    + " price, created, created_date, paid, note, version + 1, 0 FROM " + table + " FINAL WHERE id = 5");
            ch.execute("INSERT INTO " + table + " (" + columns + ", version, is_deleted) SELECT " + columns
                    + ", version + 1, 1 FROM " + table + " FINAL WHERE id = 6");
            ch.execute("INSERT INTO " + table + " (" + columns + ", version, is_deleted) VALUES (900001, 'ghost', 1, 1,"
                    + " '2024-01-01 00:00:00', '2024-01-01', 0, NULL, 1, 0)");
            pg.execute(app, "UPDATE shop_order SET total = 999.99 WHERE id = 7");

            Map.Entry<Integer, String> found = verify(config, "--settle", "1s");
            assertThat(found.getKey()).as(found.getValue()).isEqualTo(Cli.FAILED);
            assertThat(found.getValue())
                    .contains("4 key(s) differ: 1 missing from the target, 1 extra in it, 2 different")
                    .contains("missing from the target (1):\n        6\n")
                    .contains("extra in the target (1):\n        900001\n")
                    .contains("5: status new (source) / hacked (target)")
                    .contains("7: total 999.99 (source) / 8.75 (target)");

            // a settle shorter than a read never turns a difference into a key 'changing, not checked'
            Map.Entry<Integer, String> quick = verify(config, "--settle", "1ms");
            assertThat(quick.getKey()).as(quick.getValue()).isEqualTo(Cli.FAILED);
            assertThat(quick.getValue()).contains("4 key(s) differ: 1 missing from the target, 1 extra in it, 2 different")
                    .doesNotContain("kept changing");

            Map.Entry<Integer, String> repaired = verify(config, "--settle", "1s", "--repair");
            assertThat(repaired.getKey()).as(repaired.getValue()).isEqualTo(Cli.FAILED);
            assertThat(repaired.getValue()).contains("repair: registered 3 update(s) and 1 delete(s) for import key Order");
            await().atMost(T).until(() -> verify(config).getKey() == Cli.OK);
            assertThat(ch.execute("SELECT status, toString(total) FROM " + table + " FINAL WHERE id IN (5, 7) AND is_deleted = 0"
                    + " ORDER BY id").trim().lines().toList()).containsExactly("new\t6.25", "new\t999.99");

            // a change made before the verify and registered while it checks the key again is one in flight
            pg.execute(app, "UPDATE shop_order SET status = 'late' WHERE id = 11");
            StringWriter late = new StringWriter();
            java.util.concurrent.CompletableFuture<Integer> lateVerify = java.util.concurrent.CompletableFuture.supplyAsync(
                    () -> Cli.commandLine().setOut(new PrintWriter(late, true)).setErr(new PrintWriter(late, true))
                            .execute("verify", "--config", config.toString(), "--settle", "20s"));
            await().atMost(T).until(() -> late.toString().contains("checking each again"));
            r.zadd(queue, System.currentTimeMillis() / 1000.0, "update:default.11");
            assertThat(lateVerify.get(T.toSeconds(), java.util.concurrent.TimeUnit.SECONDS)).as(late.toString()).isEqualTo(Cli.OK);
            assertThat(late.toString()).contains("1 key(s) differ in those buckets")
                    .contains("equal (the keys that differed were changes in flight)");

            // changes keep coming (each registered once committed) while a verify runs: none is a difference
            AtomicBoolean writing = new AtomicBoolean(true);
            AtomicInteger written = new AtomicInteger();
            Thread writer = new Thread(() -> {
                while (writing.get()) {
                    int id = 1 + ThreadLocalRandom.current().nextInt(ROWS);
                    pg.execute(app, "UPDATE shop_order SET status = 'paid', total = total + 1 WHERE id = " + id);
                    r.zadd(queue, System.currentTimeMillis() / 1000.0, "update:default." + id);
                    written.incrementAndGet();
                }
            }, "writer");
            writer.start();
            try {
                await().atMost(T).until(() -> written.get() > 50);
                Map.Entry<Integer, String> busy = verify(config, "--settle", "3s");
                assertThat(busy.getKey()).as(busy.getValue()).isEqualTo(Cli.OK);
            } finally {
                writing.set(false);
                writer.join();
            }
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
        } finally {
            client.shutdown();
        }
    }

    /** The table in PostgreSQL, and a config syncing it into ClickHouse; {@code more}: more keys of the source. */
    private static Path setUp(RedisServer redis, PostgresServer pg, ClickHouseServer ch, Path dir, String app, String chDb,
            String prefix, String more) throws Exception {
        return setUp(redis, pg, ch, dir, app, chDb, prefix, more, "replacing");
    }

    private static Path setUp(RedisServer redis, PostgresServer pg, ClickHouseServer ch, Path dir, String app, String chDb,
            String prefix, String more, String mode) throws Exception {
        pg.execute(app, "CREATE TABLE shop_order (id bigint PRIMARY KEY, status text NOT NULL, total numeric(12, 2),"
                + " price double precision, created timestamp, created_date date NOT NULL, paid boolean, note text)");
        pg.execute(app, "INSERT INTO shop_order SELECT g, 'new', g * 1.25, g / 3.0, timestamp '2024-01-01' + g * interval"
                + " '1 minute', date '2024-01-01' + g % 60, g % 2 = 0, CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END"
                + " FROM generate_series(1, " + ROWS + ") g");
        pg.execute(app, "ANALYZE shop_order");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, """
                http:
                  port: 0
                  portFile: %1$s/http.port
                  token: "%9$s"
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  redis:
                    queue: {uri: "%2$s"}
                  postgres:
                    app: {url: "%3$s"}
                  clickhouse:
                    analytics: {endpoints: ["%4$s"], database: %5$s}
                pipelines:
                  - name: orders
                    source:
                      type: storage-sync
                      connection: queue
                      keyPrefix: %6$s
                      importKeys:
                        Order: {model: shop.order, table: shop_order, delay: 100ms}
                      databases: {default: app}
                      %7$s
                    sinks:
                      - type: clickhouse
                        connection: analytics
                        mode: %8$s
                        tables:
                          shop.order:
                            target: shop_order
                            create:
                              columns: ["id UInt64", "status String", "total Decimal(12, 2)", "price Float64",
                                        "created DateTime", "created_date Date", "paid UInt8", "note Nullable(String)"]
                              orderBy: [id]
                """.formatted(dir, redis.uri(), pg.r2dbcUrl(app), ch.httpUrl(), chDb, prefix, more, mode, ServiceUnderTest.TOKEN));
        return config;
    }

    @Test
    void aPipelineVerifyingOnAScheduleLogsAndPublishesTheDifferencesItFindsAndIsNotReadyMeanwhile(RedisServer redis,
            PostgresServer pg, ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String app = pg.createDatabase("verify_scheduled");
        String chDb = ch.createDatabase("verify_scheduled");
        String prefix = "s" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        Path config = setUp(redis, pg, ch, dir, app, chDb, prefix, "verify: {every: 1s, settle: 500ms, readiness: true}");
        String table = chDb + ".shop_order";
        String queue = prefix + ":operations:Order";
        String different = "changepipe_verify_differences{import_key=\"Order\",kind=\"different\",pipeline=\"orders\","
                + "sink=\"clickhouse\"}";
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> connection = client.connect();
                ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
            RedisCommands<String, String> r = connection.sync();
            registerEveryRow(r, queue);
            await().ignoreExceptions().atMost(T).until(() -> service.get("/metrics").body().contains(different + " 0.0")
                    && service.get("/metrics").body().contains("changepipe_verify_rows_total"));

            pg.execute(app, "UPDATE shop_order SET total = 999.99 WHERE id = 7"); // its registration lost
            await().ignoreExceptions().atMost(T).until(() -> service.get("/metrics").body().contains(different + " 1.0"));
            await().atMost(T).until(() -> service.output().contains("7: total 999.99 (source) / 8.75 (target)"));
            // the last result is the pipeline's line on the status page (and the dashboard)
            await().ignoreExceptions().atMost(T).until(() -> service.pipeline("orders").get("sourceParts")
                    .get("verify Order against sink clickhouse").asText()
                    .startsWith("1 key(s) differ: 0 missing, 0 extra, 1 different"));
            // a verify asked for now answers with the same finding
            var now = service.post("/api/pipelines/orders/verify", ServiceUnderTest.TOKEN, "");
            assertThat(now.statusCode()).as(now.body()).isEqualTo(200);
            assertThat(ServiceUnderTest.json(now).get("equal").asBoolean()).isFalse();
            assertThat(ServiceUnderTest.json(now).get("tables").get("verify Order against sink clickhouse").asText())
                    .startsWith("1 key(s) differ");
            assertThat(service.post("/api/pipelines/orders/verify", null, "").statusCode()).isEqualTo(401);
            await().ignoreExceptions().atMost(T).until(() -> service.get("/health/ready").statusCode() == 503);
            assertThat(service.get("/health/ready").body()).contains("verify of pipeline orders")
                    .contains("1 key(s) of import key Order against sink clickhouse differ");

            // repaired through the endpoint: the key registered, as --repair registers it
            var repaired = service.post("/api/pipelines/orders/verify", ServiceUnderTest.TOKEN,
                    "{\"table\": \"Order\", \"repair\": true}");
            assertThat(repaired.statusCode()).as(repaired.body()).isEqualTo(200);
            assertThat(ServiceUnderTest.json(repaired).get("report").asText())
                    .contains("7: total 999.99 (source) / 8.75 (target)")
                    .contains("repair: registered 1 update(s) and 0 delete(s) for import key Order");
            await().ignoreExceptions().atMost(T).until(() -> service.get("/metrics").body().contains(different + " 0.0"));
            await().ignoreExceptions().atMost(T).until(() -> service.get("/health/ready").statusCode() == 200);
            assertThat(ch.execute("SELECT toString(total) FROM " + table + " FINAL WHERE id = 7").trim()).isEqualTo("999.99");
            assertThat(service.pipeline("orders").get("sourceParts").get("verify Order against sink clickhouse").asText())
                    .startsWith("equal, 3,000 rows");
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
        } finally {
            client.shutdown();
        }
    }

    @Test
    void aCollapsingTableIsComparedByItsLiveRows(RedisServer redis, PostgresServer pg, ClickHouseServer ch, @TempDir Path dir)
            throws Exception {
        String app = pg.createDatabase("verify_collapsing");
        String chDb = ch.createDatabase("verify_collapsing");
        String prefix = "c" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        Path config = setUp(redis, pg, ch, dir, app, chDb, prefix, "", "collapsing");
        String table = chDb + ".shop_order";
        String queue = prefix + ":operations:Order";
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> connection = client.connect();
                ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), Map.of())) {
            RedisCommands<String, String> r = connection.sync();
            registerEveryRow(r, queue);
            await().ignoreExceptions().atMost(T).until(() -> r.zcard(queue) == 0 && ch.execute("SELECT sum(sign) FROM "
                    + table).trim().equals(String.valueOf(ROWS)));
            // updates and deletes leave cancelled rows behind: only the live ones count
            pg.execute(app, "UPDATE shop_order SET status = 'paid' WHERE id <= 20");
            pg.execute(app, "DELETE FROM shop_order WHERE id BETWEEN 30 AND 34");
            for (int id = 1; id <= 20; id++) {
                r.zadd(queue, 1_800_000_000.0 + id, "update:default." + id);
            }
            for (int id = 30; id <= 34; id++) {
                r.zadd(queue, 1_800_000_100.0 + id, "delete:default." + id);
            }
            await().ignoreExceptions().atMost(T).until(() -> r.zcard(queue) == 0 && ch.execute("SELECT sum(sign) FROM "
                    + table).trim().equals(String.valueOf(ROWS - 5)));
            Map.Entry<Integer, String> equal = verify(config, "--settle", "1s");
            assertThat(equal.getKey()).as(equal.getValue()).isEqualTo(Cli.OK);
            assertThat(equal.getValue()).contains("(collapsing)").contains("digested 2,995 row(s) (2,995 in the target)");

            // a row cancelled behind the pipeline's back is missing
            ch.execute("INSERT INTO " + table + " (id, status, total, price, created, created_date, paid, note, version,"
                    + " sign) SELECT id, status, total, price, created, created_date, paid, note, version, -1 FROM " + table
                    + " FINAL WHERE id = 100 AND sign = 1");
            Map.Entry<Integer, String> missing = verify(config, "--settle", "1s");
            assertThat(missing.getKey()).as(missing.getValue()).isEqualTo(Cli.FAILED);
            assertThat(missing.getValue()).contains("1 key(s) differ: 1 missing from the target, 0 extra in it, 0 different")
                    .contains("missing from the target (1):\n        100\n");
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
        } finally {
            client.shutdown();
        }
    }

    /** What an application registers for the rows it inserted, as django-clickhouse does. */
    private static void registerEveryRow(RedisCommands<String, String> r, String queue) {
        for (int id = 1; id <= ROWS; id++) {
            r.zadd(queue, 1_700_000_000.0 + id, "insert:default." + id);
        }
    }

    /** {@code verify --config ...} in this JVM, as the launcher runs it: its exit code and output. */
    /** {@code ./pipeline verify --config FILE MORE...}, in this JVM: its exit code and what it printed. */
    static Map.Entry<Integer, String> verify(Path config, String... more) {
        StringWriter out = new StringWriter();
        String[] args = new String[3 + more.length];
        args[0] = "verify";
        args[1] = "--config";
        args[2] = config.toString();
        System.arraycopy(more, 0, args, 3, more.length);
        int code = Cli.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(args);
        return Map.entry(code, out.toString());
    }
}
