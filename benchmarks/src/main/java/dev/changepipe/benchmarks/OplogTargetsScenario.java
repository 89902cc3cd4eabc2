package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The generated Django-style log ({@link DjangoLog}, snapshot mode, the defaults otherwise) into the
 * other two sinks:
 *
 * <ul>
 *   <li>{@code oplog-postgres}: the {@code postgres} sink into {@code shop_order} of a private
 *       PostgreSQL (bigint pk, unique uuid, the sink adds its version column). Check: the live orders
 *       and the sum of their totals. Baseline: {@code psql \copy ... FROM} file of the same final rows
 *       into an equal table.
 *   <li>{@code oplog-hotstorage}: the {@code redis-hot-storage} sink, {@code uuid} a unique constraint,
 *       into a private Redis. Check: the model's {@code all} set holds exactly the live orders.
 *       Baseline: {@code redis-cli --pipe} writing the same objects (per change, the object's JSON and
 *       its uuid index key, or deleting both).
 * </ul>
 */
final class OplogTargetsScenario {

    private static final String TABLE = "id bigint PRIMARY KEY, uuid uuid UNIQUE NOT NULL, customer integer NOT NULL, "
            + "status text NOT NULL, total numeric(12, 2) NOT NULL, created timestamptz NOT NULL";

    private final EndToEndRun run;

    OplogTargetsScenario(EndToEndRun run) {
        this.run = run;
    }

    void postgres(String name) throws Exception {
        Path dir = run.directory(name);
        Path log = dir.resolve("shop.log");
        Path rows = dir.resolve("final.copy");
        DjangoLog.Expected expected = DjangoLog.generate(log, null, rows, run.rows, 42);
        PostgresServer pg = BenchServers.postgres();
        String db = pg.createDatabase("bench_oplog");
        pg.execute(db, "CREATE TABLE shop_order (" + TABLE + "); CREATE TABLE shop_order_copy (" + TABLE + ")");

        long t0 = System.nanoTime();
        String copy = BenchServers.postgresClient(pg, db, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                "\\copy shop_order_copy (id, uuid, customer, status, total, created) FROM '" + rows + "'");
        double copySeconds = (System.nanoTime() - t0) / 1e9;
        String baselineProblem = copy != null ? "psql \\copy failed: " + copy : checkPostgres(pg, db, "shop_order_copy", expected);
        double baseline = -1;
        if (baselineProblem != null) {
            run.failed(name + "-baseline", baselineProblem);
        } else {
            baseline = expected.liveOrders() / copySeconds;
        }

        String yaml = EndToEndRun.oplogSnapshot(dir, """
                connections:
                  postgres:
                    target:
                      url: %s
                """.formatted(EndToEndRun.quote(pg.r2dbcUrl(db))), log, "", """
                      - type: postgres
                        connection: target
                """);
        ServiceProcess.Result result = run.runService(dir, yaml);
        String problem = result.exitCode() != 0
                ? "the service exited with " + result.exitCode() + " (log: " + dir.resolve("service.log") + ")"
                : checkPostgres(pg, db, "shop_order", expected);
        if (problem != null) {
            run.failed(name, problem);
            return;
        }
        run.result(name, expected.changes(), result.seconds(), baseline, result.cpuSeconds(), result.peakHeapMb(), -1,
                result.extraFields());
    }

    private static String checkPostgres(PostgresServer pg, String db, String table, DjangoLog.Expected expected) {
        String[] f = pg.execute(db, "SELECT count(*), coalesce(sum(total), 0) FROM " + table).trim().split("\\|");
        long count = Long.parseLong(f[0]);
        long cents = new BigDecimal(f[1]).movePointRight(2).longValueExact();
        if (count != expected.liveOrders() || cents != expected.totalCentsOfLive()) {
            return table + ": " + count + " orders totalling " + cents + " cents, expected " + expected.liveOrders()
                    + " totalling " + expected.totalCentsOfLive();
        }
        return null;
    }

    void hotStorage(String name) throws Exception {
        Path dir = run.directory(name);
        Path log = dir.resolve("shop.log");
        Path pipe = dir.resolve("baseline.resp");
        DjangoLog.Expected expected = DjangoLog.generate(log, null, null, pipe, "base:", run.rows, 42);
        RedisServer redis = BenchServers.redis();
        try (RedisClient client = RedisClient.create(redis.uri());
                StatefulRedisConnection<String, String> connection = client.connect()) {
            long t0 = System.nanoTime();
            String failed = BenchServers.command(List.of("sh", "-c", "redis-cli -h " + redis.host() + " -p " + redis.port()
                    + " --pipe < '" + pipe + "'"), Map.of());
            double pipeSeconds = (System.nanoTime() - t0) / 1e9;
            double baseline = -1;
            long baselineObjects = connection.sync().keys("base:shop.order:pk:*").size();
            if (failed != null || baselineObjects != expected.liveOrders()) {
                run.failed(name + "-baseline", failed != null ? "redis-cli --pipe failed: " + failed
                        : baselineObjects + " objects, expected " + expected.liveOrders());
            } else {
                baseline = expected.changes() / pipeSeconds;
            }

            String yaml = EndToEndRun.oplogSnapshot(dir, """
                    connections:
                      redis:
                        hot:
                          uri: %s
                    """.formatted(EndToEndRun.quote(redis.uri())), log, "", """
                          - type: redis-hot-storage
                            connection: hot
                            keyPrefix: "hot:"
                            uniqueConstraints:
                              shop.order: [uuid]
                    """);
            ServiceProcess.Result result = run.runService(dir, yaml);
            long objects = connection.sync().scard("hot:shop.order:all");
            String problem = result.exitCode() != 0
                    ? "the service exited with " + result.exitCode() + " (log: " + dir.resolve("service.log") + ")"
                    : objects != expected.liveOrders() ? "hot:shop.order:all holds " + objects + " objects, expected "
                            + expected.liveOrders() : null;
            if (problem != null) {
                run.failed(name, problem);
                return;
            }
            run.result(name, expected.changes(), result.seconds(), baseline, result.cpuSeconds(), result.peakHeapMb(), -1,
                    result.extraFields());
        }
    }

    /** Runs a command; null when it exited 0, else its output. */
}
