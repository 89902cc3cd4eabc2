package dev.changepipe.service;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * End to end through the replication service: the demo's generated Django-style log (1 million
 * changes by default, updates and deletes included) replicated by the service (oplog-file source in
 * snapshot mode, parse-queue pusher, ClickHouse sink in replacing mode) into a private ClickHouse, next
 * to the baseline of the same run: ClickHouse loading the same number of rows of the same table as
 * one TabSeparated HTTP insert (no parsing, no versions, no acks: the target's own ceiling).
 *
 * <p>Not JMH: one run of each, timed from start to the last acknowledgement (service) or to the
 * insert's response (baseline). In the {@code dev.changepipe.service} package to use the service's
 * own parts.
 *
 * <pre>
 * ./mvnw -B -ntp -pl benchmarks -am package -DskipTests
 * java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.changepipe.service.ServiceEndToEndRun
 * # -Dchanges=1000000 -Dparallelism=2 -DchunkMaxBytes=1MiB
 * </pre>
 */
public final class ServiceEndToEndRun {

    private ServiceEndToEndRun() {
    }

    public static void main(String[] args) throws Exception {
        int changes = Integer.getInteger("changes", 1_000_000);
        int parallelism = Integer.getInteger("parallelism", Runtime.getRuntime().availableProcessors());
        PrintWriter out = new PrintWriter(System.out, true);
        Cli.setLogLevel("ERROR");
        Path work = Files.createTempDirectory("changepipe-bench-service-");
        Path log = work.resolve("shop.log");
        Demo.Expected expected = Demo.generate(log, changes, 42);
        out.printf("log: %,d changes, %,d bytes%n", changes, Files.size(log));
        try (LocalClickHouse ch = LocalClickHouse.start(out)) {
            ch.query("CREATE DATABASE " + Demo.DATABASE);
            String yaml = Demo.config(work, log, ch.httpUrl(), 0)
                    .replace("kind: parse-queue", "kind: parse-queue\n      parallelism: " + parallelism)
                    .replace("chunkMaxBytes: 1MiB", "chunkMaxBytes: " + System.getProperty("chunkMaxBytes", "1MiB"));
            ServiceConfig config = new ConfigLoader(System::getenv).parse(yaml);
            Components components = new Components(config, work, new SimpleMeterRegistry(),
                    ServiceEndToEndRun.class.getClassLoader());
            ReplicationService service = new ReplicationService(config, components, components.registry());
            long started = System.nanoTime();
            service.start();
            PipelineSupervisor supervisor = service.supervisor("demo");
            while (supervisor.state() != PipelineSupervisor.State.COMPLETED) {
                if (supervisor.state() == PipelineSupervisor.State.RESTARTING) {
                    throw new IllegalStateException("pipeline failed: " + supervisor.snapshot().lastError());
                }
                Thread.sleep(20);
            }
            double serviceSeconds = (System.nanoTime() - started) / 1e9;
            service.stop().toFuture().get(60, TimeUnit.SECONDS);
            String live = ch.query("SELECT count() FROM demo.shop_order FINAL WHERE is_deleted = 0").trim();
            if (Long.parseLong(live) != expected.liveOrders()) {
                throw new IllegalStateException("expected " + expected.liveOrders() + " live orders, found " + live);
            }

            ch.query("CREATE TABLE demo.baseline AS demo.shop_order");
            Path tsv = work.resolve("baseline.tsv");
            try (var w = Files.newBufferedWriter(tsv, StandardCharsets.UTF_8)) {
                for (int i = 1; i <= changes; i++) {
                    int id = 1 + i % Math.max(1, changes / 5);
                    w.write(id + "\t" + new java.util.UUID(0x5EED_0000_0000_4000L | id, 0x8000_0000_0000_0000L | id)
                            + "\t" + (1 + id % 5000) + "\tpaid\t" + (i % 1000) + ".50\t2023-11-14 22:13:20\t" + i + "\t0\n");
                }
            }
            HttpClient client = HttpClient.newHttpClient();
            long t0 = System.nanoTime();
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(ch.httpUrl() + "/?query="
                            + java.net.URLEncoder.encode("INSERT INTO demo.baseline FORMAT TabSeparated", StandardCharsets.UTF_8)))
                    .timeout(Duration.ofMinutes(5))
                    .POST(HttpRequest.BodyPublishers.ofFile(tsv)).build(), HttpResponse.BodyHandlers.ofString());
            double baselineSeconds = (System.nanoTime() - t0) / 1e9;
            if (r.statusCode() != 200) {
                throw new IllegalStateException("baseline insert failed: " + r.body());
            }
            out.printf("service (oplog -> parse-queue(%d) -> ClickHouse): %,d changes in %.2f s = %,.0f changes/s%n",
                    parallelism, changes, serviceSeconds, changes / serviceSeconds);
            out.printf("baseline (one TSV insert of as many rows):        %,d rows in %.2f s = %,.0f rows/s%n",
                    changes, baselineSeconds, changes / baselineSeconds);
        } finally {
            LocalClickHouse.deleteTree(work);
        }
    }
}
