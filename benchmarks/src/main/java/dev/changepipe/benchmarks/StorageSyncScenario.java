package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.file.Path;

/**
 * {@code storage-sync-clickhouse-<mode>}: {@code rows} operations ({@code update:default.<pk>}, one per
 * row) registered in Redis under django-clickhouse's layout for rows of {@code app_model} in
 * PostgreSQL, drained by the service ({@code storage-sync} source with {@code untilEmpty: true}, the
 * defaults otherwise) into a ClickHouse table in {@code replacing} or {@code collapsing} mode. Checks:
 * every row once in ClickHouse's final state with the right {@code sum(counter)}, and the Redis queue
 * empty (every operation removed after its acknowledgement). Baseline in the same run: {@code psql
 * \copy} of the same rows out to a file plus {@code clickhouse-client} inserting it into an equal
 * table, timed together.
 */
final class StorageSyncScenario {

    static final String IMPORT_KEY = "app.model";

    private final EndToEndRun run;
    private final int rows;
    private RedisServer redis;
    private PostgresServer pg;
    private String pgDb;
    private double baseline = -2;

    StorageSyncScenario(EndToEndRun run, int rows) {
        this.run = run;
        this.rows = rows;
    }

    /** The PostgreSQL rows, once for both modes. */
    private void prepare() {
        if (pg != null) {
            return;
        }
        redis = BenchServers.redis();
        pg = BenchServers.postgres();
        pgDb = pg.createDatabase("bench_sync");
        pg.execute(pgDb, "CREATE TABLE app_model (id bigint PRIMARY KEY, name text NOT NULL, counter bigint NOT NULL, "
                + "amount numeric(12,2), updated timestamp NOT NULL)");
        pg.execute(pgDb, "INSERT INTO app_model SELECT g, 'name ' || g, g % 1000, (g % 100000) / 100.0, "
                + "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, " + rows + ") g");
        pg.execute(pgDb, "VACUUM ANALYZE app_model");
    }

    /** sum(id % 1000) for id in 1..rows. */
    private long expectedCounterSum() {
        long sum = 0;
        for (long id = 1; id <= rows; id++) {
            sum += id % 1000;
        }
        return sum;
    }

    void run(String name, String mode) throws Exception {
        prepare();
        if (baseline == -2) {
            baseline = baseline();
        }
        Path dir = run.directory(name);
        String prefix = "bench_" + mode;
        String target = "app_model_" + mode;
        try (RedisClient client = RedisClient.create(redis.uri())) {
            try (StatefulRedisConnection<String, String> connection = client.connect()) {
                StorageSyncBenchmark.queueOperations(connection, prefix, rows, 10_000);
                ClickHouseServer ch = run.clickHouse().server();
                ch.execute("CREATE DATABASE IF NOT EXISTS bench");
                String yaml = EndToEndRun.configHead(dir)
                        + EndToEndRun.storageSyncConnections(ch.httpUrl(), redis.uri(), pg.r2dbcUrl(pgDb)) + """
                        pipelines:
                          - name: sync
                            source:
                              type: storage-sync
                              connection: ops
                              keyPrefix: %s
                              importKeys:
                                app.model: {}
                              databases:
                                default: app
                              untilEmpty: true
                            sinks:
                              - type: clickhouse
                                connection: bench
                                mode: %s
                                tables:
                                  app.model:
                                    target: %s
                                    create: %s
                        """.formatted(prefix, mode, target, EndToEndRun.APP_MODEL_CREATE);
                ServiceProcess.Result result = run.runService(dir, yaml);
                if (result.exitCode() != 0) {
                    run.failed(name, "the service exited with " + result.exitCode() + " (log: " + dir.resolve("service.log") + ")");
                    return;
                }
                long queued = connection.sync().zcard(prefix + ":operations:" + IMPORT_KEY);
                String where = mode.equals("collapsing") ? "" : " WHERE is_deleted = 0";
                String[] state = ch.execute("SELECT count(), uniqExact(id), sum(counter) FROM bench." + target + " FINAL"
                        + where + " FORMAT TSV").trim().split("\t");
                if (mode.equals("collapsing")) {
                    state[0] = ch.execute("SELECT sum(sign) FROM bench." + target + " FORMAT TSV").trim();
                }
                long counters = expectedCounterSum();
                if (queued != 0 || Long.parseLong(state[0]) != rows || Long.parseLong(state[1]) != rows
                        || Long.parseLong(state[2]) != counters) {
                    run.failed(name, "ClickHouse holds " + state[1] + " ids (count " + state[0] + ", sum(counter) " + state[2]
                            + "), expected " + rows + " (" + counters + "); " + queued + " operations still queued");
                    return;
                }
                EndToEndRun.dropChecked(ch, "bench." + target);
                run.result(name, rows, result.seconds(), baseline, result.cpuSeconds(), result.peakHeapMb(), -1,
                        result.extraFields());
            }
        }
    }

    /**
     * psql \copy out plus clickhouse-client in, timed together and checked, {@link
     * EndToEndRun#BASELINE_RUNS} times, each into its own table (the median run's rate); -1 when it fails.
     */
    private double baseline() throws Exception {
        Path file = run.directory("storage-sync-baseline").resolve("app_model.tsv");
        ClickHouseServer ch = run.clickHouse().server();
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        double[] seconds = new double[EndToEndRun.BASELINE_RUNS];
        for (int i = 0; i < seconds.length; i++) {
            String table = "bench.app_model_baseline_" + i;
            ch.execute("CREATE TABLE " + table + " (id UInt64, name String, counter Int64, amount Decimal(12, 2), "
                    + "updated DateTime, version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
            long t0 = System.nanoTime();
            String failed = BenchServers.postgresClient(pg, pgDb, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "\\copy (SELECT id, name, counter, amount, updated FROM app_model) TO '" + file + "'");
            if (failed != null) {
                run.failed("storage-sync-baseline", "psql \\copy failed: " + failed);
                return -1;
            }
            double copyOut = (System.nanoTime() - t0) / 1e9;
            double copyIn = run.clickHouseClientInsert(table, "id, name, counter, amount, updated", file);
            String[] state = ch.execute("SELECT count(), sum(counter) FROM " + table + " FORMAT TSV").trim().split("\t");
            if (Long.parseLong(state[0]) != rows || Long.parseLong(state[1]) != expectedCounterSum()) {
                run.failed("storage-sync-baseline", "the baseline table holds " + state[0] + " rows");
                return -1;
            }
            seconds[i] = copyOut + copyIn;
            EndToEndRun.dropChecked(ch, table);
        }
        return rows / EndToEndRun.median("storage-sync", seconds);
    }
}
