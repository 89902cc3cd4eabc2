package dev.changepipe.service;

import dev.changepipe.spi.HttpEndpoint;
import io.lettuce.core.resource.ClientResources;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import reactor.netty.DisposableServer;

/**
 * {@code ./pipeline demo}: generates a Django-style operation log (orders created, updated, deleted
 * and a few malformed lines), starts a private ClickHouse, runs the replication service on it with an
 * in-memory configuration (operation-log source in snapshot mode, parse-queue pusher, ClickHouse sink
 * in replacing mode), shows a progress bar, prints a summary and the query of the replicated state,
 * checks that state against what the generator knows, and stops what it started (unless
 * {@code --keep}).
 */
final class Demo {

    static final String DATABASE = "demo";
    static final String TABLE = "shop_order";
    private static final int MALFORMED = 3;

    private final PrintWriter out;
    private final int changes;
    private final boolean keep;
    private final int httpPort;

    Demo(PrintWriter out, int changes, boolean keep, int httpPort) {
        this.out = out;
        this.changes = changes;
        this.keep = keep;
        this.httpPort = httpPort;
    }

    /** What the generated log leaves behind: live orders and the sum of their totals. */
    record Expected(long lines, long liveOrders, BigDecimal totalOfLive, long deletes, long updates) {
    }

    int run() throws Exception {
        Cli.setLogLevel("ERROR");
        Path work = Files.createTempDirectory("changepipe-demo-");
        Path log = work.resolve("oplog").resolve("shop.log");
        Files.createDirectories(log.getParent());
        out.printf("Generating a Django-style operation log of %,d changes (inserts, updates, deletes)...%n", changes);
        out.flush();
        Expected expected = generate(log, changes, 42);
        out.printf("  %s: %,d MiB, %,d updates, %,d deletes, %d malformed lines%n", log,
                Files.size(log) >> 20, expected.updates(), expected.deletes(), MALFORMED);
        out.println("Starting a private ClickHouse from the installed server...");
        out.flush();
        LocalClickHouse clickHouse = LocalClickHouse.start(out);
        boolean stopClickHouse = !keep;
        try {
            out.printf("  ClickHouse on %s (native port %d), data in %s%n", clickHouse.httpUrl(), clickHouse.tcpPort(),
                    clickHouse.directory());
            clickHouse.query("CREATE DATABASE IF NOT EXISTS " + DATABASE);
            return replicate(work, log, clickHouse, expected);
        } finally {
            if (stopClickHouse) {
                clickHouse.close();
                LocalClickHouse.deleteTree(work);
                out.println("Stopped ClickHouse and removed its directory and the generated log.");
            }
            out.flush();
        }
    }

    private int replicate(Path work, Path log, LocalClickHouse clickHouse, Expected expected) throws Exception {
        String yaml = config(work, log, clickHouse.httpUrl(), httpPort);
        ServiceConfig config = new ConfigLoader(System::getenv).parse(yaml);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Components components = new Components(config, work, registry, Demo.class.getClassLoader());
        components.validate();
        ReplicationService service = new ReplicationService(config, components, registry);
        try (HttpEventLoops loops = HttpEventLoops.create(config.http().ioThreads())) {
            components.share(ClientResources.class, loops.redis());
            List<HttpEndpoint> endpoints = components.endpoints();
            try {
                DisposableServer http = new AdminServer(service, registry, config.http(), loops.group(), endpoints)
                        .bind().toFuture().get(30, TimeUnit.SECONDS);
                return replicate(work, service, http, clickHouse, expected);
            } finally {
                AdminServer.close(endpoints);
            }
        }
    }

    private int replicate(Path work, ReplicationService service, DisposableServer http, LocalClickHouse clickHouse,
            Expected expected) throws Exception {
        out.printf("Replicating (dashboard: http://127.0.0.1:%d/ )%n", http.port());
        out.flush();
        long started = System.nanoTime();
        service.start();
        PipelineSupervisor supervisor = service.supervisor("demo");
        boolean terminal = System.console() != null;
        long lastLine = 0;
        while (supervisor.state() != PipelineSupervisor.State.COMPLETED) {
            if (supervisor.state() == PipelineSupervisor.State.RESTARTING) {
                out.println();
                out.println("The pipeline failed: " + supervisor.snapshot().lastError());
                out.println("It restarts with backoff; stopping the demo instead.");
                service.stop().toFuture().get();
                http.disposeNow();
                return Cli.FAILED;
            }
            long now = System.nanoTime();
            if (terminal || now - lastLine > TimeUnit.SECONDS.toNanos(2)) {
                progress(written(service), expected.lines(), started, terminal);
                lastLine = now;
            }
            Thread.sleep(terminal ? 200 : 100);
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        long rows = written(service);
        progress(rows, expected.lines(), started, terminal);
        out.println();
        long deadLetters = (long) service.status().toFuture().get().get(0).deadLetters();
        out.println();
        out.println("Summary");
        out.printf("  rows replicated : %,d (%,d saves, %,d deletes as tombstones)%n", rows, rows - expected.deletes(),
                expected.deletes());
        out.printf("  time            : %.2f s%n", seconds);
        out.printf("  rate            : %,.0f rows/s%n", rows / seconds);
        out.printf("  dead letters    : %,d (malformed lines, in %s)%n", deadLetters,
                work.resolve("checkpoints").resolve("demo.dead-letters.jsonl"));
        String query = "SELECT count() AS live_orders, sum(total) AS total, countIf(status = 'shipped') AS shipped "
                + "FROM " + DATABASE + "." + TABLE + " FINAL WHERE is_deleted = 0";
        String result = clickHouse.query(query + " FORMAT TSV").trim();
        String[] f = result.split("\t");
        out.println();
        out.println("The replicated state (the latest version of each order, deleted ones left out):");
        out.println("  " + query);
        out.println(clickHouse.query(query + " FORMAT PrettyCompactNoEscapes").stripTrailing().indent(2).stripTrailing());
        boolean matches = Long.parseLong(f[0]) == expected.liveOrders()
                && new BigDecimal(f[1]).compareTo(expected.totalOfLive()) == 0;
        out.printf("  expected from the log: %,d live orders, total %s: %s%n", expected.liveOrders(),
                expected.totalOfLive().toPlainString(), matches ? "MATCH" : "MISMATCH");
        service.stop().toFuture().get();
        http.disposeNow(Duration.ofSeconds(5));
        if (keep) {
            out.println();
            out.println("ClickHouse keeps running (--keep). Connect with:");
            out.printf("  clickhouse-client --port %d --query \"%s\"%n", clickHouse.tcpPort(), query);
            out.printf("  curl '%s/' --data-binary \"%s FORMAT PrettyCompact\"%n", clickHouse.httpUrl(), query);
            out.printf("Stop it with: kill %d && rm -rf %s %s%n", clickHouse.pid(), clickHouse.directory(), work);
        }
        return matches && deadLetters == MALFORMED ? Cli.OK : Cli.FAILED;
    }

    private static long written(ReplicationService service) {
        var c = service.registry().find(MeteredSink.ITEMS).tag("pipeline", "demo").counter();
        return c == null ? 0 : (long) c.count();
    }

    private void progress(long done, long total, long started, boolean terminal) {
        int width = 40;
        int filled = (int) Math.min(width, width * done / Math.max(1, total));
        double seconds = Math.max(1e-9, (System.nanoTime() - started) / 1e9);
        String line = String.format("[%s%s] %3d%% %,d / %,d rows  %,.0f rows/s", "#".repeat(filled),
                " ".repeat(width - filled), 100 * done / Math.max(1, total), done, total, done / seconds);
        if (terminal) {
            out.print("\r" + line);
        } else {
            out.println(line);
        }
        out.flush();
    }

    static String config(Path work, Path log, String clickHouseUrl, int httpPort) {
        return """
                http:
                  host: 127.0.0.1
                  port: %3$d
                checkpoints:
                  directory: %1$s
                connections:
                  clickhouse:
                    local:
                      endpoints: [%2$s]
                      database: %5$s
                pipelines:
                  - name: demo
                    source:
                      type: oplog-file
                      path: %4$s
                      mode: snapshot
                      format: django
                      chunkMaxBytes: 1MiB
                    pusher:
                      kind: parse-queue
                    sinks:
                      - type: clickhouse
                        connection: local
                        tables:
                          shop.order:
                            target: %6$s
                            create:
                              columns: ["id UInt64", "uuid UUID", "customer UInt32", "status String", "total Decimal(12, 2)", "created DateTime"]
                              orderBy: [id]
                """.formatted(quote(work.resolve("checkpoints").toString()), clickHouseUrl, httpPort,
                quote(log.toString()), DATABASE, TABLE);
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "''") + "'";
    }

    /**
     * Writes {@code changes} change lines plus a few malformed ones: a fifth of the changes create
     * orders, the rest update a random existing order or (one in twelve) delete it; a deleted order
     * may be created again later under the same pk. Deterministic for a seed.
     */
    static Expected generate(Path file, int changes, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        int maxOrders = Math.max(1, changes / 5);
        boolean[] live = new boolean[maxOrders + 1];
        long[] totalCents = new long[maxOrders + 1];
        int created = 0;
        long deletes = 0;
        long updates = 0;
        String[] statuses = {"new", "paid", "shipped", "cancelled"};
        long time = 1_700_000_000L;
        int malformedEvery = changes / (MALFORMED + 1);
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            StringBuilder b = new StringBuilder(256);
            for (int i = 0; i < changes; i++) {
                if (malformedEvery > 0 && i > 0 && i % malformedEvery == 0 && i / malformedEvery <= MALFORMED) {
                    w.write(time + " SAVE [{\"model\": \"shop.order\", \"pk\": broken json\n");
                }
                if (i % 50 == 0) {
                    time++;
                }
                int id;
                boolean delete = false;
                if (created < maxOrders && (i < maxOrders / 2 || random.nextInt(5) == 0)) {
                    id = ++created;
                } else {
                    id = 1 + random.nextInt(created);
                    delete = live[id] && random.nextInt(12) == 0;
                }
                long cents = 100 + random.nextInt(100_000);
                String status = statuses[random.nextInt(statuses.length)];
                b.setLength(0);
                b.append(time).append(delete ? " DELETE " : " SAVE ")
                        .append("[{\"model\": \"shop.order\", \"pk\": ").append(id)
                        .append(", \"fields\": {\"uuid\": \"").append(new java.util.UUID(0x5EED_0000_0000_4000L | id, 0x8000_0000_0000_0000L | id))
                        .append("\", \"customer\": ").append(1 + id % 5000)
                        .append(", \"status\": \"").append(status)
                        .append("\", \"total\": \"").append(cents / 100).append('.').append(String.format("%02d", cents % 100))
                        .append("\", \"created\": \"").append(Instant.ofEpochSecond(time)).append("\"}}]\n");
                w.write(b.toString());
                if (delete) {
                    live[id] = false;
                    deletes++;
                } else {
                    if (live[id]) {
                        updates++;
                    }
                    live[id] = true;
                    totalCents[id] = cents;
                }
            }
        }
        long liveCount = 0;
        long sum = 0;
        for (int id = 1; id <= maxOrders; id++) {
            if (live[id]) {
                liveCount++;
                sum += totalCents[id];
            }
        }
        return new Expected(changes, liveCount, BigDecimal.valueOf(sum, 2), deletes, updates);
    }
}
