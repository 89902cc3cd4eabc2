package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The {@code postgres-cdc} source through the service, into ClickHouse (replacing mode):
 *
 * <ul>
 *   <li>{@code pg-cdc-snapshot}: the initial copy of a table of {@code snapshotRows} rows, from the
 *       service's start until ClickHouse holds every row; baseline: {@code psql \copy} of the same rows
 *       out plus {@code clickhouse-client} in, timed together.</li>
 *   <li>{@code pg-cdc-clickhouse}: {@code changes} changes (80 % updates, 10 % inserts, 10 % deletes, in
 *       transactions of 1,000) made while the service is stopped, then read from the slot: from the
 *       service's start until the last transaction is visible in ClickHouse; baseline: {@code
 *       pg_recvlogical} with {@code test_decoding} reading the same WAL from a slot made at the same
 *       point, to {@code /dev/null} (the cost of decoding alone).</li>
 * </ul>
 * Both check that ClickHouse's final state equals PostgreSQL's (count and {@code sum(counter)}).
 */
final class PgCdcScenario {

    static final String SNAPSHOT = "pg-cdc-snapshot";
    static final String STREAM = "pg-cdc-clickhouse";
    private static final int STREAM_TABLE_ROWS = 100_000;
    private static final Duration WAIT = Duration.ofMinutes(30);

    private final EndToEndRun run;
    private final long snapshotRows;
    private final long changes;

    PgCdcScenario(EndToEndRun run, long snapshotRows, long changes) {
        this.run = run;
        this.snapshotRows = snapshotRows;
        this.changes = changes;
    }

    private static String table(String name) {
        return "CREATE TABLE " + name + " (id bigint PRIMARY KEY, name text NOT NULL, counter bigint NOT NULL, "
                + "amount numeric(12,2), updated timestamp NOT NULL)";
    }

    private static String fill(String name, long rows) {
        return "INSERT INTO " + name + " SELECT g, 'name ' || g, g % 1000, (g % 100000) / 100.0, "
                + "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, " + rows + ") g";
    }

    private String config(Path dir, ClickHouseServer ch, PostgresServer pg, String db, String target) {
        return EndToEndRun.configHead(dir) + """
                connections:
                  clickhouse:
                    bench:
                      endpoints: [%s]
                      database: bench
                  postgres:
                    app:
                      url: %s
                pipelines:
                  - name: %s
                    source:
                      type: postgres-cdc
                      connection: app
                      tables: [items]
                    sinks:
                      - type: clickhouse
                        connection: bench
                        tables:
                          items:
                            target: %s
                            create: %s
                """.formatted(ch.httpUrl(), EndToEndRun.quote(pg.r2dbcUrl(db)), db, target, EndToEndRun.APP_MODEL_CREATE);
    }

    void snapshot() throws Exception {
        PostgresServer pg = BenchServers.postgres();
        String db = pg.createDatabase("bench_cdc_snap");
        pg.execute(db, table("items"));
        pg.execute(db, fill("items", snapshotRows));
        pg.execute(db, "VACUUM ANALYZE items");
        ClickHouseServer ch = run.clickHouse().server();
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        double baseline = copyBaseline(pg, db, ch);
        Path dir = run.directory(SNAPSHOT);
        String target = "items_snapshot";
        Files.writeString(dir.resolve("service.yaml"), config(dir, ch, pg, db, target), StandardCharsets.UTF_8);
        ServiceProcess service = ServiceProcess.start(run.root, dir, dir.resolve("service.yaml"), run.javaOpts);
        try {
            // the rows counted without FINAL until they are all there (a FINAL count of millions of rows every
            // 50 ms took about a core from the service and ClickHouse), then with FINAL: the end state
            measure(SNAPSHOT, service, snapshotRows, baseline, () -> count(ch, "bench." + target) >= snapshotRows
                    && count(ch, "bench." + target + " FINAL") >= snapshotRows,
                    pg, db, ch, "bench." + target);
        } finally {
            dropSlots(pg, db);
        }
    }

    /**
     * Times the service from now until {@code done}, stops it, checks ClickHouse against PostgreSQL and
     * prints the scenario's line (or its failure).
     */
    private void measure(String name, ServiceProcess service, long rows, double baseline, Check done, PostgresServer pg,
            String db, ClickHouseServer ch, String table) throws Exception {
        try {
            long t0 = System.nanoTime();
            if (!waitFor(service, done)) {
                run.failed(name, "ClickHouse did not reach the end state (" + count(ch, table) + " rows; log: "
                        + service.logFile() + ")");
                return;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            service.terminate();
            ServiceProcess.Result result = service.await(Duration.ofSeconds(60));
            String problem = compare(pg, db, ch, table);
            if (problem != null || result.exitCode() != 0) {
                run.failed(name, problem != null ? problem : "the service exited with " + result.exitCode());
                return;
            }
            EndToEndRun.dropChecked(ch, table);
            run.result(name, rows, seconds, baseline, result.cpuSeconds(), result.peakHeapMb(), -1, result.extraFields());
        } finally {
            if (service.isAlive()) {
                service.terminate();
            }
        }
    }

    void stream() throws Exception {
        PostgresServer pg = BenchServers.postgres();
        String db = pg.createDatabase("bench_cdc");
        pg.execute(db, table("items"));
        pg.execute(db, fill("items", STREAM_TABLE_ROWS));
        ClickHouseServer ch = run.clickHouse().server();
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        Path dir = run.directory(STREAM);
        String target = "items_stream";
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, ch, pg, db, target), StandardCharsets.UTF_8);
        try {
            // the slot and the snapshot first; then the changes, made while the service is stopped
            ServiceProcess first = ServiceProcess.start(run.root, run.directory(STREAM + "-snapshot"), "service",
                    run.javaOpts, List.of("run", "--config", config.toString()));
            boolean copied = waitFor(first, () -> count(ch, "bench." + target) >= STREAM_TABLE_ROWS
                    && count(ch, "bench." + target + " FINAL") >= STREAM_TABLE_ROWS);
            first.terminate();
            first.await(Duration.ofSeconds(60));
            if (!copied) {
                run.failed(STREAM, "the snapshot did not complete (log: " + first.logFile() + ")");
                return;
            }
            pg.execute(db, "SELECT pg_create_logical_replication_slot('bench_test_decoding', 'test_decoding')");
            generate(pg, db);
            String end = pg.execute(db, "SELECT pg_current_wal_lsn()").trim();
            double baseline = recvlogical(pg, db, end);

            ServiceProcess service = ServiceProcess.start(run.root, dir, config, run.javaOpts);
            measure(STREAM, service, changes, baseline, () -> count(ch, "bench." + target + " WHERE id = 0") > 0,
                    pg, db, ch, "bench." + target);
        } finally {
            dropSlots(pg, db);
        }
    }

    /**
     * The changes, in transactions of 1,000 (a procedure that commits as it goes): per transaction 800
     * updates of existing ids, 100 inserts of new ids and 100 deletes; then one last transaction that
     * inserts id 0, the marker the timing waits for.
     */
    private void generate(PostgresServer pg, String db) {
        long transactions = Math.max(1, changes / 1000);
        pg.execute(db, """
                CREATE PROCEDURE bench_changes(transactions bigint) LANGUAGE plpgsql AS $$
                DECLARE next_id bigint := %d; t bigint;
                BEGIN
                  FOR t IN 1..transactions LOOP
                    UPDATE items SET counter = counter + 1, name = 'u' || t
                      WHERE id IN (SELECT (t * 7919 + g * 131) %% next_id + 1 FROM generate_series(1, 800) g);
                    INSERT INTO items SELECT next_id + g, 'i' || t, g, 1.5, now()::timestamp FROM generate_series(1, 100) g;
                    next_id := next_id + 100;
                    DELETE FROM items WHERE id IN (SELECT (t * 104729 + g * 977) %% next_id + 1 FROM generate_series(1, 100) g);
                    COMMIT;
                  END LOOP;
                END $$;
                """.formatted(STREAM_TABLE_ROWS));
        pg.execute(db, "CALL bench_changes(" + transactions + ")");
        pg.execute(db, "INSERT INTO items VALUES (0, 'end', 0, 0, now())");
    }

    /** pg_recvlogical with test_decoding, from its slot up to {@code end}, to /dev/null; the rows per second. */
    private double recvlogical(PostgresServer pg, String db, String end) throws Exception {
        long t0 = System.nanoTime();
        String failed = BenchServers.postgresClient(pg, db, "pg_recvlogical", "--slot", "bench_test_decoding", "--start",
                "--endpos", end, "-f", "/dev/null", "--no-loop");
        if (failed != null) {
            throw new IllegalStateException("pg_recvlogical failed: " + failed);
        }
        return changes / ((System.nanoTime() - t0) / 1e9);
    }

    /** psql \copy out plus clickhouse-client in of the table, timed together; the rows per second. */
    private double copyBaseline(PostgresServer pg, String db, ClickHouseServer ch) throws Exception {
        Path file = run.directory(SNAPSHOT + "-baseline").resolve("items.tsv");
        String table = "bench.items_copy_baseline";
        ch.execute("CREATE TABLE " + table + " (id UInt64, name String, counter Int64, amount Decimal(12, 2), "
                + "updated DateTime, version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        long t0 = System.nanoTime();
        String failed = BenchServers.postgresClient(pg, db, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                "\\copy (SELECT id, name, counter, amount, updated FROM items) TO '" + file + "'");
        if (failed != null) {
            throw new IllegalStateException("psql \\copy failed: " + failed);
        }
        double copyOut = (System.nanoTime() - t0) / 1e9;
        double copyIn = run.clickHouseClientInsert(table, "id, name, counter, amount, updated", file);
        long copied = count(ch, table);
        if (copied != snapshotRows) {
            throw new IllegalStateException("the baseline table holds " + copied + " rows");
        }
        EndToEndRun.dropChecked(ch, table);
        Files.deleteIfExists(file);
        return snapshotRows / (copyOut + copyIn);
    }

    /** ClickHouse's final state against PostgreSQL's: count and sum(counter); null when equal. */
    private static String compare(PostgresServer pg, String db, ClickHouseServer ch, String table) {
        String expected = pg.execute(db, "SELECT count(*), coalesce(sum(counter), 0) FROM items").trim().replace('|', '\t');
        String actual = ch.execute("SELECT count(), sum(counter) FROM " + table + " FINAL WHERE is_deleted = 0 FORMAT TSV")
                .trim();
        return expected.equals(actual) ? null
                : "ClickHouse holds " + actual + " (count, sum(counter)), PostgreSQL " + expected;
    }

    private static long count(ClickHouseServer ch, String from) {
        try {
            return Long.parseLong(ch.execute("SELECT count() FROM " + from + " FORMAT TSV").trim());
        } catch (RuntimeException e) {
            return 0; // the sink creates the table with its first write
        }
    }

    private interface Check {
        boolean done() throws IOException;
    }

    private static boolean waitFor(ServiceProcess service, Check check) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            if (check.done()) {
                return true;
            }
            if (!service.isAlive()) {
                return false;
            }
            Thread.sleep(50);
        }
        return false;
    }

    /** Drops the scenario's slots (they would keep WAL) and its database; a failure here fails nothing. */
    private static void dropSlots(PostgresServer pg, String db) {
        try {
            pg.execute(db, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = "
                    + "current_database() AND NOT active");
            pg.execute(pg.database(), "DROP DATABASE IF EXISTS \"" + db + "\"");
        } catch (RuntimeException e) {
            System.err.println("benchmarks/run: could not drop " + db + " and its slots: " + e.getMessage());
        }
    }
}
