package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseCluster;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.DedicatedClickHouse;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The end-to-end benchmark runner behind {@code benchmarks/run}: each scenario runs the replication
 * service as a user runs it (its own JVM, {@code ./pipeline run --config FILE}, default settings unless
 * the scenario says otherwise) against private servers started here, checks the replicated state
 * against the generator, measures a baseline of the same rows in the same run, and prints one line:
 *
 * <pre>
 * scenario: NAME rows=N seconds=S rows_per_s=R baseline_rows_per_s=B ratio=R/B jvm_cpu_us_per_row=C peak_heap_mb=H p99_latency_ms=L [extra fields]
 * </pre>
 *
 * or {@code scenario: NAME FAILED: why} when a check fails. Fields that do not apply are {@code -}. The
 * registration scenarios print rates and latencies of their own instead ({@link RegistrationScenario}).
 * Options: {@code --rows N} (default 2,000,000; the storage-sync scenarios and the streamed changes of
 * pg-cdc use half, the verify scenarios and the pg-cdc snapshot 2.5 times as many), {@code --only
 * NAME[,NAME...]} (a scenario's name selects it alone; anything else, the scenarios it begins), {@code --java-opts "..."} (added to the service's JVM),
 * {@code --root DIR} (the repository, where {@code ./pipeline} is). See benchmarks/README.md.
 */
public final class EndToEndRun {

    static final List<String> SCENARIOS = List.of("oplog-clickhouse", "oplog-clickhouse-sync", "oplog-noop",
            "oplog-latency-20k", "oplog-latency-50k",
            "storage-sync-clickhouse-replacing", "storage-sync-clickhouse-collapsing",
            "oplog-postgres", "oplog-hotstorage", RegistrationScenario.HTTP, RegistrationScenario.DIRECT,
            VerifyScenario.VERIFY, VerifyScenario.REPAIR, PgCdcScenario.SNAPSHOT, PgCdcScenario.STREAM, "oplog-cluster",
            "oplog-cluster-direct");

    private static final Duration SERVICE_TIMEOUT = Duration.ofMinutes(30);

    final Path root;
    final int rows;
    final Set<String> only;
    final String javaOpts;
    final Path work;
    final PrintStream out;
    private DedicatedClickHouse clickHouse;
    private boolean failed;

    private EndToEndRun(Path root, int rows, Set<String> only, String javaOpts, Path work, PrintStream out) {
        this.root = root;
        this.rows = rows;
        this.only = only;
        this.javaOpts = javaOpts;
        this.work = work;
        this.out = out;
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        int rows = 2_000_000;
        Set<String> only = new LinkedHashSet<>();
        String javaOpts = "";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--root" -> root = Path.of(args[++i]).toAbsolutePath();
                case "--rows" -> rows = Integer.parseInt(args[++i].replace("_", ""));
                case "--only" -> only.addAll(Arrays.asList(args[++i].split(",")));
                case "--java-opts" -> javaOpts = args[++i];
                case "--list" -> {
                    SCENARIOS.forEach(System.out::println);
                    return;
                }
                default -> {
                    System.err.println("usage: benchmarks/run [--rows N] [--only NAME[,NAME...]] [--java-opts \"...\"] [--list]");
                    System.exit(2);
                }
            }
        }
        for (String name : only) {
            if (SCENARIOS.stream().noneMatch(s -> s.startsWith(name))) {
                System.err.println("benchmarks/run: unknown scenario " + name + "; expected one of " + SCENARIOS);
                System.exit(2);
            }
        }
        Path work = Files.createTempDirectory("changepipe-e2e-");
        EndToEndRun run = new EndToEndRun(root, rows, only, javaOpts, work, System.out);
        try {
            run.runAll();
        } finally {
            run.close();
        }
        System.exit(run.failed ? 1 : 0);
    }

    private boolean selected(String name) {
        // a scenario's name selects that scenario alone; anything else selects the names it begins
        return only.isEmpty() || only.stream().anyMatch(o -> SCENARIOS.contains(o) ? name.equals(o) : name.startsWith(o));
    }

    private void runAll() throws Exception {
        if (selected("oplog-clickhouse") || selected("oplog-clickhouse-sync") || selected("oplog-noop")) {
            guard("oplog-clickhouse", this::oplogClickHouse);
        }
        for (int rate : new int[] {20_000, 50_000}) {
            String name = "oplog-latency-" + rate / 1000 + "k";
            if (selected(name)) {
                guard(name, () -> new LatencyScenario(this, name, rate).run());
            }
        }
        StorageSyncScenario sync = new StorageSyncScenario(this, Math.max(1, rows / 2));
        for (String mode : new String[] {"replacing", "collapsing"}) {
            String name = "storage-sync-clickhouse-" + mode;
            if (selected(name)) {
                guard(name, () -> sync.run(name, mode));
            }
        }
        OplogTargetsScenario targets = new OplogTargetsScenario(this);
        if (selected("oplog-postgres")) {
            guard("oplog-postgres", () -> targets.postgres("oplog-postgres"));
        }
        if (selected("oplog-hotstorage")) {
            guard("oplog-hotstorage", () -> targets.hotStorage("oplog-hotstorage"));
        }
        boolean http = selected(RegistrationScenario.HTTP);
        boolean direct = selected(RegistrationScenario.DIRECT);
        if (http || direct) {
            guard(http ? RegistrationScenario.HTTP : RegistrationScenario.DIRECT,
                    () -> new RegistrationScenario(this, rows).run(http, direct));
        }
        PgCdcScenario cdc = new PgCdcScenario(this, Math.max(1, rows * 5L / 2), Math.max(1000, rows / 2));
        if (selected(PgCdcScenario.SNAPSHOT)) {
            guard(PgCdcScenario.SNAPSHOT, cdc::snapshot);
        }
        if (selected(PgCdcScenario.STREAM)) {
            guard(PgCdcScenario.STREAM, cdc::stream);
        }
        if (selected("oplog-cluster") || selected("oplog-cluster-direct")) {
            guard("oplog-cluster", this::oplogCluster);
        }
        VerifyScenario verify = new VerifyScenario(this, Math.max(1, rows * 5L / 2));
        for (String name : new String[] {VerifyScenario.VERIFY, VerifyScenario.REPAIR}) {
            if (selected(name)) {
                guard(name, () -> verify.run(name));
            }
        }
    }

    interface Scenario {
        void run() throws Exception;
    }

    /** Runs a scenario; an exception is reported as its FAILED line and the next scenario runs. */
    private void guard(String name, Scenario scenario) {
        try {
            scenario.run();
        } catch (Exception | Error e) {
            failed(name, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    void failed(String name, String why) {
        failed = true;
        out.println("scenario: " + name + " FAILED: " + why.replace('\n', ' '));
        out.flush();
    }

    /** Prints one result line. Negative or NaN values print as {@code -}. */
    void result(String name, long n, double seconds, double baselineRowsPerSecond, double cpuSeconds, long peakHeapMb,
            double p99Ms, String extra) {
        double rate = n / seconds;
        out.println("scenario: " + name + " rows=" + n + " seconds=" + fmt(seconds, 2) + " rows_per_s=" + fmt(rate, 0)
                + " baseline_rows_per_s=" + fmt(baselineRowsPerSecond, 0)
                + " ratio=" + fmt(baselineRowsPerSecond > 0 ? rate / baselineRowsPerSecond : -1, 3)
                + " jvm_cpu_us_per_row=" + fmt(cpuSeconds * 1e6 / n, 2)
                + " peak_heap_mb=" + (peakHeapMb < 0 ? "-" : Long.toString(peakHeapMb))
                + " p99_latency_ms=" + fmt(p99Ms, 0) + (extra.isEmpty() ? "" : " " + extra));
        out.flush();
    }

    static String fmt(double v, int decimals) {
        if (Double.isNaN(v) || v < 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** The private ClickHouse of this run, started on first use. */
    DedicatedClickHouse clickHouse() {
        if (clickHouse == null) {
            clickHouse = ClickHouseServerExtension.startDedicated();
        }
        return clickHouse;
    }

    /** A fresh directory for one scenario or run. */
    Path directory(String name) throws IOException {
        return Files.createDirectories(work.resolve(name));
    }

    /** Runs the service on {@code yaml} until it exits by itself (a bounded config). */
    ServiceProcess.Result runService(Path dir, String yaml) throws Exception {
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, yaml, StandardCharsets.UTF_8);
        return ServiceProcess.start(root, dir, config, javaOpts).await(SERVICE_TIMEOUT);
    }

    static String quote(Object s) {
        return "'" + s.toString().replace("'", "''") + "'";
    }

    /** The head of a service config: HTTP on a free loopback port (in {@code dir/http.port}), checkpoints in {@code dir}. */
    static String configHead(Path dir) {
        return """
                http:
                  port: 0
                  portFile: %s
                checkpoints:
                  directory: %s
                """.formatted(quote(dir.resolve("http.port")), quote(dir.resolve("checkpoints")));
    }

    /**
     * A config of one pipeline, {@code oplog}: {@code log} read in snapshot mode into {@code sinks} (list
     * items indented six spaces), with {@code connections} (a whole section) and {@code pusher} (a line
     * indented four spaces, or empty).
     */
    static String oplogSnapshot(Path dir, String connections, Path log, String pusher, String sinks) {
        return configHead(dir) + connections + """
                pipelines:
                  - name: oplog
                    source:
                      type: oplog-file
                      path: %s
                      mode: snapshot
                %s    sinks:
                %s""".formatted(quote(log), pusher, sinks);
    }

    /** The {@code connections} section of the oplog scenarios' ClickHouse {@code bench} (database {@code bench}). */
    static String clickHouseConnection(String endpoints) {
        return """
                connections:
                  clickhouse:
                    bench:
                      endpoints: [%s]
                      database: bench
                """.formatted(endpoints);
    }

    /**
     * The {@code connections} section of a storage-sync scenario: ClickHouse {@code bench} (database
     * {@code bench}), Redis {@code ops}, PostgreSQL {@code app}.
     */
    static String storageSyncConnections(String clickHouseUrl, String redisUri, String postgresUrl) {
        return """
                connections:
                  clickhouse:
                    bench:
                      endpoints: [%s]
                      database: bench
                  redis:
                    ops:
                      uri: %s
                  postgres:
                    app:
                      url: %s
                """.formatted(clickHouseUrl, quote(redisUri), quote(postgresUrl));
    }

    /** The ClickHouse columns of the storage-sync scenarios' {@code app_model} rows, as a sink's {@code create}. */
    static final String APP_MODEL_CREATE = "{columns: [\"id UInt64\", \"name String\", \"counter Int64\", "
            + "\"amount Decimal(12, 2)\", \"updated DateTime\"], orderBy: [id]}";

    /** {@code clickhouse-client} inserting {@code file} as TabSeparated; returns the seconds it took. */
    double clickHouseClientInsert(String table, String columns, Path file) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("clickhouse-client", "--host", "127.0.0.1", "--port",
                Integer.toString(clickHouse().tcpPort()), "--query",
                "INSERT INTO " + table + " (" + columns + ") FORMAT TabSeparated")
                .redirectInput(file.toFile()).redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IllegalStateException("clickhouse-client failed: " + output.trim());
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    // ---------------------------------------------------------------- oplog -> ClickHouse

    private void oplogClickHouse() throws Exception {
        Path dir = directory("oplog-clickhouse");
        Path log = dir.resolve("shop.log");
        Path tsv = dir.resolve("baseline.tsv");
        DjangoLog.Expected expected = DjangoLog.generate(log, tsv, null, rows, 42);
        ClickHouseServer ch = clickHouse().server();
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        double baseline = -1;
        boolean baselineDone = false;
        String[][] runs = {
                {"oplog-clickhouse", "shop_order", "", "clickhouse"},
                {"oplog-clickhouse-sync", "shop_order_sync", "    pusher: {kind: sync}\n", "clickhouse"},
                {"oplog-noop", "-", "", "noop"},
        };
        for (String[] r : runs) {
            String name = r[0];
            if (!selected(name)) {
                continue;
            }
            if (!baselineDone) {
                baselineDone = true;
                baseline = oplogClickHouseBaseline(ch, tsv, expected);
            }
            double base = baseline;
            guard(name, () -> {
                Path runDir = directory(name);
                String sink = r[3].equals("noop") ? "      - type: noop\n"
                        : "      - type: clickhouse\n"
                        + "        connection: bench\n"
                        + "        tables:\n"
                        + "          shop.order:\n"
                        + "            target: " + r[1] + "\n"
                        + "            create: {columns: [" + DjangoLog.COLUMNS + "], orderBy: [id]}\n";
                String yaml = oplogSnapshot(runDir, clickHouseConnection(ch.httpUrl()), log, r[2], sink);
                FirstRow firstRow = r[3].equals("noop") ? null : FirstRow.watch(ch, "bench." + r[1]);
                ServiceProcess.Result result;
                try {
                    result = runService(runDir, yaml);
                } finally {
                    if (firstRow != null) {
                        firstRow.stop();
                    }
                }
                String problem = result.exitCode() != 0 ? "the service exited with " + result.exitCode() + " (log: "
                        + runDir.resolve("service.log") + ")"
                        : r[3].equals("noop") ? checkNoop(result, expected.changes())
                        : checkOrders(ch, "bench." + r[1], expected);
                if (problem != null) {
                    failed(name, problem);
                    return;
                }
                if (!r[3].equals("noop")) {
                    dropChecked(ch, "bench." + r[1]);
                }
                result(name, expected.changes(), result.seconds(), base, result.cpuSeconds(), result.peakHeapMb(), -1,
                        result.extraFields() + (firstRow == null ? "" : " first_row_s=" + fmt(firstRow.seconds(), 2)));
            });
        }
    }

    // ---------------------------------------------------------------- oplog -> a 2 x 2 ClickHouse cluster

    /**
     * The log of {@code oplog-clickhouse} into a local cluster of 2 shards of 2 replicas (test-support's
     * {@link ClickHouseCluster}: ZooKeeper and four servers on this machine), into replicated shards the
     * sink creates ({@code shardBy: id}) under a {@code Distributed} table: {@code oplog-cluster} writes
     * through the {@code Distributed} table (the service's endpoints every node), {@code oplog-cluster-direct}
     * to the shards' local tables (the connection's {@code shards}). Baseline: {@code clickhouse-client}
     * into the single private server, as for {@code oplog-clickhouse}.
     */
    private void oplogCluster() throws Exception {
        Path dir = directory("oplog-cluster");
        Path log = dir.resolve("shop.log");
        Path tsv = dir.resolve("baseline.tsv");
        DjangoLog.Expected expected = DjangoLog.generate(log, tsv, null, rows, 42);
        ClickHouseServer single = clickHouse().server();
        single.execute("CREATE DATABASE IF NOT EXISTS bench");
        double baseline = oplogClickHouseBaseline(single, tsv, expected);
        try (ClickHouseCluster cluster = ClickHouseCluster.start(2, 2)) {
            ClickHouseServer ch = cluster.server(1, 1).server();
            for (String name : List.of("oplog-cluster", "oplog-cluster-direct")) {
                if (!selected(name)) {
                    continue;
                }
                boolean direct = name.endsWith("direct");
                String target = direct ? "shop_order_direct" : "shop_order";
                StringBuilder shards = new StringBuilder();
                for (int s = 1; direct && s <= cluster.shards(); s++) {
                    shards.append(s == 1 ? "" : ", ").append("[").append(cluster.server(s, 1).server().httpUrl())
                            .append(", ").append(cluster.server(s, 2).server().httpUrl()).append("]");
                }
                Path runDir = directory(name + "-run");
                String yaml = oplogSnapshot(runDir, clickHouseConnection(String.join(", ", cluster.httpUrls()))
                        + (direct ? "      shards: [" + shards + "]\n" : ""), log, "",
                        "      - type: clickhouse\n"
                        + "        connection: bench\n"
                        + "        cluster: " + ClickHouseCluster.NAME + "\n"
                        + "        tables:\n"
                        + "          shop.order:\n"
                        + "            target: " + target + "\n"
                        + "            create: {columns: [" + DjangoLog.COLUMNS + "], orderBy: [id], shardBy: id}\n");
                ServiceProcess.Result result = runService(runDir, yaml);
                String problem = result.exitCode() != 0 ? "the service exited with " + result.exitCode() + " (log: "
                        + runDir.resolve("service.log") + ")" : checkOrders(ch, "bench." + target, expected);
                if (problem != null) {
                    failed(name, problem);
                    continue;
                }
                result(name, expected.changes(), result.seconds(), baseline, result.cpuSeconds(),
                        result.peakHeapMb(), -1, result.extraFields());
            }
        }
    }

    /**
     * From launching the service to the first row of {@code table} being visible: a thread asks
     * ClickHouse for {@code count()} every 20 ms (the table does not exist at first) and stops at the
     * first row, so the measurement costs the server nothing afterwards.
     */
    static final class FirstRow {
        private final long startNanos = System.nanoTime();
        private volatile long seenNanos = -1;
        private volatile boolean stopped;
        private final Thread thread;

        private FirstRow(ClickHouseServer ch, String table) {
            thread = new Thread(() -> {
                while (!stopped && seenNanos < 0) {
                    try {
                        if (Long.parseLong(ch.execute("SELECT count() FROM " + table + " FORMAT TSV").trim()) > 0) {
                            seenNanos = System.nanoTime();
                            return;
                        }
                    } catch (RuntimeException e) {
                        // not created yet
                    }
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "first-row");
            thread.setDaemon(true);
        }

        /** Starts watching now; call right before launching the service. */
        static FirstRow watch(ClickHouseServer ch, String table) {
            FirstRow watch = new FirstRow(ch, table);
            watch.thread.start();
            return watch;
        }

        void stop() throws InterruptedException {
            stopped = true;
            thread.join(5_000);
        }

        /** Seconds from the start to the first row, or -1 when none was seen. */
        double seconds() {
            return seenNanos < 0 ? -1 : (seenNanos - startNanos) / 1e9;
        }
    }

    /** clickhouse-client inserting the same rows into an equal table; checked; -1 when it fails. */
    private double oplogClickHouseBaseline(ClickHouseServer ch, Path tsv, DjangoLog.Expected expected) throws Exception {
        double[] seconds = new double[BASELINE_RUNS];
        for (int i = 0; i < BASELINE_RUNS; i++) {
            String table = "bench.shop_order_baseline_" + i;
            ch.execute("CREATE TABLE " + table + " (id UInt64, uuid UUID, customer UInt32, status String, "
                    + "total Decimal(12, 2), created DateTime, version UInt64, is_deleted UInt8) "
                    + "ENGINE = ReplacingMergeTree(version) ORDER BY id");
            seconds[i] = clickHouseClientInsert(table, "id, uuid, customer, status, total, created, version, is_deleted", tsv);
            String problem = checkOrders(ch, table, expected);
            if (problem != null) {
                failed("oplog-clickhouse-baseline", problem);
                return -1;
            }
            dropChecked(ch, table);
        }
        return expected.changes() / median("oplog-clickhouse", seconds);
    }

    /**
     * How many times a baseline runs; its rate is the one of the median run. A single run of the same
     * insert on this 2-core VM varied from 0.63 to 1.6 M rows/s between runs minutes apart.
     */
    static final int BASELINE_RUNS = 3;

    /**
     * Drops a table whose content was checked, so that the next measurement starts on an idle server:
     * the background merges of millions of freshly inserted rows would take a core from it.
     */
    static void dropChecked(ClickHouseServer ch, String table) {
        ch.execute("DROP TABLE " + table);
    }

    /** The median of a baseline's run times; the times go to standard error. */
    static double median(String baseline, double[] seconds) {
        double[] sorted = seconds.clone();
        Arrays.sort(sorted);
        System.err.println("benchmarks/run: " + baseline + " baseline runs: "
                + Arrays.stream(seconds).mapToObj(t -> String.format(Locale.ROOT, "%.2f s", t)).toList());
        return sorted[sorted.length / 2];
    }

    /** Null when {@code table} holds every change and its final state is the generator's; else what is wrong. */
    static String checkOrders(ClickHouseServer ch, String table, DjangoLog.Expected expected) {
        String[] all = ch.execute("SELECT count(), countIf(is_deleted = 1) FROM " + table + " FORMAT TSV").trim().split("\t");
        String[] live = ch.execute("SELECT count(), toString(sum(total)) FROM " + table
                + " FINAL WHERE is_deleted = 0 FORMAT TSV").trim().split("\t");
        long liveCount = Long.parseLong(live[0]);
        long cents = new java.math.BigDecimal(live[1]).movePointRight(2).longValueExact();
        if (Long.parseLong(all[0]) < expected.liveOrders() || liveCount != expected.liveOrders()
                || cents != expected.totalCentsOfLive()) {
            return table + ": " + liveCount + " live orders totalling " + cents + " cents, expected "
                    + expected.liveOrders() + " totalling " + expected.totalCentsOfLive() + " (" + all[0] + " rows)";
        }
        return null;
    }

    private static String checkNoop(ServiceProcess.Result result, long changes) {
        return result.log().contains("sink noop accepted " + changes + " items") ? null
                : "the noop sink did not report " + changes + " items";
    }

    private void close() {
        if (clickHouse != null) {
            clickHouse.close();
        }
        if (failed || "1".equals(System.getenv("BENCH_KEEP"))) {
            System.err.println("benchmarks/run: kept " + work + (failed ? " (a scenario failed)" : " (BENCH_KEEP=1)"));
            return;
        }
        try (Stream<Path> paths = Files.walk(work)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("benchmarks/run: could not delete " + work + ": " + e.getMessage());
        }
    }
}
