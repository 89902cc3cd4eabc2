package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code oplog-latency-<rate>}: the service follows a log (default settings, {@code mode: follow})
 * that this runner appends to at a fixed rate, every 10 ms the lines that are due, for 30 s (or as
 * long as {@code --rows} lines take at that rate, if less). Every line of one append carries the
 * append's wall-clock time (ms) in its {@code appended} field. Meanwhile the runner asks ClickHouse
 * for {@code max(appended)} every 50 ms: writes arrive in log order, so every append at or before that
 * value is visible, and its latency is the time of the answer minus its append time (each change
 * counted once, at the first answer that covers it; the 50 ms poll period bounds the error). After the
 * last append it keeps polling until every line is visible (at most 60 s), checks the row count,
 * then stops the service with SIGTERM (it must exit 0).
 */
final class LatencyScenario {

    private static final long TICK_MS = 10;
    private static final long POLL_MS = 50;

    private final EndToEndRun run;
    private final String name;
    private final int rate;

    LatencyScenario(EndToEndRun run, String name, int rate) {
        this.run = run;
        this.name = name;
        this.rate = rate;
    }

    /** One append: when, and how many lines. */
    private record Append(long atMs, int lines) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    static boolean ready(Path portFile) throws InterruptedException {
        try {
            if (!Files.exists(portFile)) {
                return false;
            }
            String port = Files.readString(portFile).trim();
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health/ready"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException notYet) {
            return false;
        }
    }

    /** The latest append time visible in ClickHouse; 0 before the sink created the table. */
    private static long visibleUpTo(ClickHouseServer ch, String db) {
        try {
            return Long.parseLong(ch.execute("SELECT max(appended) FROM " + db + ".event FORMAT TSV").trim());
        } catch (IllegalStateException e) {
            if (e.getMessage().contains("doesn't exist")) {
                return 0;
            }
            throw e;
        }
    }

    void run() throws Exception {
        Path dir = run.directory(name);
        Path log = dir.resolve("events.log");
        Files.createFile(log);
        ClickHouseServer ch = run.clickHouse().server();
        String db = "latency_" + rate;
        ch.execute("CREATE DATABASE IF NOT EXISTS " + db);
        String yaml = EndToEndRun.configHead(dir) + """
                connections:
                  clickhouse:
                    bench:
                      endpoints: [%s]
                      database: %s
                pipelines:
                  - name: follow
                    source:
                      type: oplog-file
                      path: %s
                      mode: follow
                    sinks:
                      - type: clickhouse
                        connection: bench
                        tables:
                          shop.event:
                            target: event
                            create: {columns: ["id UInt64", "appended UInt64", "customer UInt32", "status String"], orderBy: [id]}
                """.formatted(ch.httpUrl(), db, EndToEndRun.quote(log));
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, yaml, StandardCharsets.UTF_8);
        ServiceProcess service = ServiceProcess.start(run.root, dir, config, run.javaOpts);
        try {
            measure(service, ch, db, log);
        } finally {
            if (service.isAlive()) {
                service.terminate();
            }
        }
    }

    private void measure(ServiceProcess service, ClickHouseServer ch, String db, Path log) throws Exception {
        // Wait until the service is up and ready (its pipeline running, ClickHouse answering); the sink
        // creates the table with its first write.
        Path portFile = run.directory(name).resolve("http.port");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!ready(portFile)) {
            if (!service.isAlive() || System.nanoTime() > deadline) {
                run.failed(name, "the service did not become ready (log: " + service.logFile() + ")");
                return;
            }
            Thread.sleep(50);
        }
        long total = Math.min((long) rate * 30, Math.max(run.rows, rate));
        long durationMs = total * 1000 / rate;
        List<Append> appends = new ArrayList<>();
        long[] latencies = new long[(int) total];
        int measured = 0;
        int covered = 0; // appends whose latency was measured
        long written = 0;
        long start = System.currentTimeMillis();
        long nextPoll = start + POLL_MS;
        StringBuilder b = new StringBuilder(1 << 20);
        try (OutputStream o = Files.newOutputStream(log, StandardOpenOption.APPEND)) {
            while (true) {
                long now = System.currentTimeMillis();
                if (written < total) {
                    long due = Math.min(total, (now - start) * rate / 1000);
                    if (due > written) {
                        b.setLength(0);
                        for (long id = written + 1; id <= due; id++) {
                            b.append(now / 1000).append(" SAVE [{\"model\": \"shop.event\", \"pk\": ").append(id)
                                    .append(", \"fields\": {\"appended\": ").append(now).append(", \"customer\": ")
                                    .append(1 + id % 5000).append(", \"status\": \"paid\"}}]\n");
                        }
                        o.write(b.toString().getBytes(StandardCharsets.US_ASCII));
                        o.flush();
                        appends.add(new Append(now, (int) (due - written)));
                        written = due;
                    }
                } else if (covered == appends.size()) {
                    break;
                } else if (now - start > durationMs + 60_000) {
                    run.failed(name, "only " + measured + " of " + total + " changes visible 60 s after the last append");
                    return;
                }
                if (now >= nextPoll) {
                    nextPoll = now + POLL_MS;
                    long visibleUpTo = visibleUpTo(ch, db);
                    long answered = System.currentTimeMillis();
                    while (covered < appends.size() && appends.get(covered).atMs() <= visibleUpTo) {
                        Append a = appends.get(covered++);
                        for (int i = 0; i < a.lines(); i++) {
                            latencies[measured++] = answered - a.atMs();
                        }
                    }
                }
                if (!service.isAlive()) {
                    run.failed(name, "the service exited during the run (log: " + service.logFile() + ")");
                    return;
                }
                long sleep = Math.min(TICK_MS - (System.currentTimeMillis() - now), nextPoll - System.currentTimeMillis());
                if (sleep > 0) {
                    Thread.sleep(sleep);
                }
            }
        }
        double appendSeconds = Math.max(1, appends.get(appends.size() - 1).atMs() - start) / 1000.0;
        long rows = Long.parseLong(ch.execute("SELECT count() FROM " + db + ".event FORMAT TSV").trim());
        long distinct = Long.parseLong(ch.execute("SELECT uniqExact(id) FROM " + db + ".event FORMAT TSV").trim());
        service.terminate();
        ServiceProcess.Result result = service.await(Duration.ofSeconds(60));
        if (result.exitCode() != 0) {
            run.failed(name, "the service exited with " + result.exitCode() + " after SIGTERM (log: " + service.logFile() + ")");
            return;
        }
        if (distinct != total || rows < total) {
            run.failed(name, "ClickHouse holds " + distinct + " distinct ids (" + rows + " rows), expected " + total);
            return;
        }
        java.util.Arrays.sort(latencies, 0, measured);
        double p50 = latencies[(int) Math.min(measured - 1, Math.floor(measured * 0.50))];
        double p99 = latencies[(int) Math.min(measured - 1, Math.floor(measured * 0.99))];
        long max = latencies[measured - 1];
        run.result(name, total, appendSeconds, -1, result.cpuSeconds(), result.peakHeapMb(), p99,
                "p50_latency_ms=" + EndToEndRun.fmt(p50, 0) + " max_latency_ms=" + max
                        + " " + result.extraFields());
    }
}
