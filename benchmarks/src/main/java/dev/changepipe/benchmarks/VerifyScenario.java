package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code verify} and {@code verify-repair}: {@code ./pipeline verify --config FILE} (docs/verify.md)
 * comparing a PostgreSQL table of {@code rows} rows with its ClickHouse target table, run as a user runs
 * it (its own JVM, the launcher, default settings).
 *
 * <p>Data: {@code shop_order} in a private PostgreSQL with the columns of {@code VerifyIntegrationTest}
 * (bigint pk, text, numeric(12,2), double precision, timestamp, date, boolean, nullable text), filled
 * with {@code generate_series} and {@code VACUUM ANALYZE}d; the ClickHouse table the clickhouse sink
 * creates for those columns in replacing mode ({@code ReplacingMergeTree(version) ORDER BY id} plus
 * {@code version UInt64}, {@code is_deleted UInt8}), filled directly, not through the service: {@code
 * psql \copy} of the rows converted as the sink converts them (timestamp as UTC epoch seconds, boolean
 * as 0/1, NULL as {@code \N}) to a file, {@code clickhouse-client} inserting it, then {@code OPTIMIZE
 * TABLE ... FINAL} (a table in its steady state, not a fresh insert's parts being merged during the
 * measurement).
 *
 * <ul>
 *   <li>{@code verify}: the tables equal; check: exit 0, {@code equal}, every row digested on both sides.
 *   <li>{@code verify-repair}: afterwards, 100 rows changed in ClickHouse behind the pipeline's back (a
 *       newer version with another status), then {@code verify --repair} (default {@code --settle 10s}),
 *       so that the narrowing (the differing buckets read again, the keys compared, read again until they
 *       settle: at least the 10 s of {@code --settle}) and the registration are measured too; check: exit
 *       1, exactly 100 keys different, 100 updates registered in Redis.
 * </ul>
 *
 * Baseline in the same run: {@code psql \copy (SELECT * FROM shop_order) TO '/dev/null'}, the median of
 * {@link EndToEndRun#BASELINE_RUNS} runs.
 */
final class VerifyScenario {

    static final String VERIFY = "verify";
    static final String REPAIR = "verify-repair";

    private static final String TABLE = "shop_order";
    private static final String TARGET = "bench.shop_order_verify";
    private static final String PREFIX = "bench_verify";
    private static final String IMPORT_KEY = "Order";
    private static final int CHANGED = 100;
    private static final Duration TIMEOUT = Duration.ofMinutes(30);
    private static final Pattern DIGESTED = Pattern.compile(
            "digested ([\\d,.'\\u00a0\\u202f]+) row\\(s\\) \\(([\\d,.'\\u00a0\\u202f]+) in the target\\).*?, ([\\d,.'\\u00a0\\u202f]+) rows/s");

    private final EndToEndRun run;
    private final long rows;
    private RedisServer redis;
    private PostgresServer pg;
    private String pgDb;
    private double baseline = -2;

    VerifyScenario(EndToEndRun run, long rows) {
        this.run = run;
        this.rows = rows;
    }

    /** The PostgreSQL table and the equal ClickHouse table, once for both scenarios. */
    private void prepare() throws Exception {
        if (pg != null) {
            return;
        }
        redis = BenchServers.redis();
        PostgresServer server = BenchServers.postgres();
        pgDb = server.createDatabase("bench_verify");
        pg = server;
        Path dir = run.directory("verify-data");
        long t0 = System.nanoTime();
        psql("CREATE TABLE " + TABLE + " (id bigint PRIMARY KEY, status text NOT NULL, total numeric(12, 2), "
                + "price double precision, created timestamp, created_date date NOT NULL, paid boolean, note text)");
        psql("INSERT INTO " + TABLE + " SELECT g, (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4], "
                + "(g % 100000) * 1.25, g / 3.0, timestamp '2024-01-01' + g * interval '1 second', "
                + "date '2024-01-01' + g % 1000, g % 2 = 0, CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END "
                + "FROM generate_series(1, " + rows + ") g");
        psql("VACUUM ANALYZE " + TABLE);
        // the rows as the clickhouse sink writes them: DateTime from a timestamp read as UTC (epoch
        // seconds, which ClickHouse's text parser takes as such), Date as text, boolean as 0/1, NULL as \N
        Path file = dir.resolve("shop_order.tsv");
        psql("\\copy (SELECT id, status, total, price, extract(epoch FROM created)::bigint, "
                + "to_char(created_date, 'YYYY-MM-DD'), paid::int, note, 1, 0 FROM " + TABLE + ") TO '" + file + "'");
        ClickHouseServer ch = run.clickHouse().server();
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        // what the sink creates for `create: {columns: [...], orderBy: [id]}` in replacing mode
        ch.execute("CREATE TABLE " + TARGET + " (id UInt64, status String, total Decimal(12, 2), price Float64, "
                + "created DateTime, created_date Date, paid UInt8, note Nullable(String), version UInt64, "
                + "is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        run.clickHouseClientInsert(TARGET, "id, status, total, price, created, created_date, paid, note, version, is_deleted",
                file);
        Files.delete(file);
        clickHouseClient("OPTIMIZE TABLE " + TARGET + " FINAL");
        long count = Long.parseLong(ch.execute("SELECT count() FROM " + TARGET + " FORMAT TSV").trim());
        if (count != rows) {
            throw new IllegalStateException(TARGET + " holds " + count + " rows after the insert, expected " + rows);
        }
        System.err.printf("benchmarks/run: verify: %,d rows in PostgreSQL and ClickHouse in %.1f s%n", rows,
                (System.nanoTime() - t0) / 1e9);
    }

    void run(String name) throws Exception {
        prepare();
        if (baseline == -2) {
            baseline = baseline();
        }
        boolean repair = name.equals(REPAIR);
        Path dir = run.directory(name);
        ClickHouseServer ch = run.clickHouse().server();
        String yaml = EndToEndRun.configHead(dir) + """
                connections:
                  redis:
                    ops:
                      uri: %s
                  postgres:
                    app:
                      url: %s
                  clickhouse:
                    bench:
                      endpoints: [%s]
                      database: bench
                pipelines:
                  - name: orders
                    source:
                      type: storage-sync
                      connection: ops
                      keyPrefix: %s
                      importKeys:
                        %s: {model: shop.order, table: %s}
                      databases:
                        default: app
                    sinks:
                      - type: clickhouse
                        connection: bench
                        tables:
                          shop.order:
                            target: %s
                """.formatted(EndToEndRun.quote(redis.uri()), EndToEndRun.quote(pg.r2dbcUrl(pgDb)), ch.httpUrl(), PREFIX,
                IMPORT_KEY, TABLE, TARGET.substring(TARGET.indexOf('.') + 1));
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, yaml, StandardCharsets.UTF_8);
        List<String> arguments = new ArrayList<>(List.of("verify", "--config", config.toString()));
        if (repair) {
            changeBehindThePipelinesBack();
            // the default --settle (10s): with --settle 1s, at 5 M rows the first read of the differing keys (a
            // scan of the target with FINAL) took longer than 3 x settle, and verify reported the 100 keys as
            // "kept changing", not as differences, and exited 0
            arguments.add("--repair");
        }
        ServiceProcess.Result result = ServiceProcess.start(run.root, dir, "verify", run.javaOpts, arguments).await(TIMEOUT);
        String log = result.log();
        String where = " (log: " + dir.resolve("verify.log") + ")";
        Matcher digested = DIGESTED.matcher(log);
        if (!digested.find()) {
            run.failed(name, "verify exited with " + result.exitCode() + " without a digested line" + where);
            return;
        }
        long source = digits(digested.group(1));
        long target = digits(digested.group(2));
        long digestRate = digits(digested.group(3));
        if (source != rows || target != rows) {
            run.failed(name, "verify digested " + source + " rows in PostgreSQL and " + target + " in ClickHouse, expected "
                    + rows + where);
            return;
        }
        String extra = result.extraFields() + " digest_rows_per_s=" + digestRate;
        if (!repair) {
            if (result.exitCode() != 0 || !log.contains("\n    equal\n")) {
                run.failed(name, "verify exited with " + result.exitCode() + ", not reporting equal tables" + where);
                return;
            }
        } else {
            long queued;
            try (RedisClient client = RedisClient.create(redis.uri());
                    StatefulRedisConnection<String, String> connection = client.connect()) {
                queued = connection.sync().zcard(PREFIX + ":operations:" + IMPORT_KEY);
            }
            if (result.exitCode() != 1
                    || !log.contains(CHANGED + " key(s) differ: 0 missing from the target, 0 extra in it, " + CHANGED + " different")
                    || !log.contains("repair: registered " + CHANGED + " update(s) and 0 delete(s)") || queued != CHANGED) {
                run.failed(name, "verify --repair exited with " + result.exitCode() + " (1 expected), not reporting and "
                        + "registering exactly the " + CHANGED + " keys changed; " + queued + " operations registered" + where);
                return;
            }
            extra += " differing_keys=" + CHANGED;
        }
        run.result(name, rows, result.seconds(), baseline, result.cpuSeconds(), result.peakHeapMb(), -1, extra);
    }

    /** 100 rows, spread over the table, given a newer version with another status in ClickHouse. */
    private void changeBehindThePipelinesBack() throws Exception {
        if (rows < CHANGED) {
            throw new IllegalStateException("verify-repair needs at least " + CHANGED + " rows");
        }
        long step = rows / CHANGED;
        String columns = "id, status, total, price, created, created_date, paid, note";
        clickHouseClient("INSERT INTO " + TARGET + " (" + columns + ", version, is_deleted) SELECT id, 'hacked', total, "
                + "price, created, created_date, paid, note, version + 1, 0 FROM " + TARGET + " FINAL WHERE id % " + step
                + " = 0 AND id <= " + step * CHANGED);
    }

    /** psql {@code \copy (SELECT * FROM shop_order) TO '/dev/null'}, timed, {@link EndToEndRun#BASELINE_RUNS} times. */
    private double baseline() throws Exception {
        double[] seconds = new double[EndToEndRun.BASELINE_RUNS];
        for (int i = 0; i < seconds.length; i++) {
            long t0 = System.nanoTime();
            psql("\\copy (SELECT * FROM " + TABLE + ") TO '/dev/null'");
            seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        return rows / EndToEndRun.median("verify", seconds);
    }

    /** Runs {@code sql} (or a psql meta-command) in the scenario's database; throws when psql fails. */
    private void psql(String sql) throws Exception {
        String failed = BenchServers.postgresClient(pg, pgDb, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql);
        if (failed != null) {
            throw new IllegalStateException("psql failed on " + sql + ": " + failed);
        }
    }

    /** {@code clickhouse-client --query sql} (no HTTP timeout for the long statements). */
    private void clickHouseClient(String sql) throws Exception {
        Process p = new ProcessBuilder("clickhouse-client", "--host", "127.0.0.1", "--port",
                Integer.toString(run.clickHouse().tcpPort()), "--query", sql).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(TIMEOUT.toMinutes(), TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("clickhouse-client failed on " + sql + ": " + output.trim());
        }
    }

    /** The digits of a number printed with grouping separators ({@code 5,000,000}). */
    private static long digits(String grouped) {
        return Long.parseLong(grouped.replaceAll("\\D", ""));
    }
}
