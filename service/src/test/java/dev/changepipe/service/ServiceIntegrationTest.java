package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The service run through {@code ./pipeline run} in a child process, against a real ClickHouse. */
@ExtendWith(ClickHouseServerExtension.class)
class ServiceIntegrationTest {

    private static final Map<String, String> ENV = Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN);

    private static long count(ClickHouseServer ch, String db) {
        return Long.parseLong(ch.execute("SELECT count() FROM " + db + ".app_item FINAL WHERE is_deleted = 0").trim());
    }

    /** The byte position a file checkpoint of the oplog source records (DESIGN: gen << 41 | pos << 1 | end). */
    private static long position(Checkpoint c) {
        return (c.offset().value() >>> 1) & ((1L << 40) - 1);
    }

    private static List<Checkpoint> checkpoints(Path dir) {
        return FileCheckpointStore.open(dir.resolve("checkpoints/items")).loadAll().collectList().block();
    }

    @Test
    void httpEndpointsServeHealthMetricsStatusAndJsonErrors(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_http");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 2000, "a");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, ""));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            assertThat(service.get("/health/live").statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(60)).until(() -> service.pipeline("items").get("itemsWritten").asLong() == 2000);
            await().atMost(Duration.ofSeconds(30)).until(() -> service.get("/health/ready").statusCode() == 200);
            assertThat(count(ch, db)).isEqualTo(2000);

            JsonNode p = service.pipeline("items");
            assertThat(p.get("state").asText()).isEqualTo("RUNNING");
            assertThat(p.get("source").asText()).isEqualTo("items");
            assertThat(p.get("sinks").get(0).asText()).isEqualTo("clickhouse");
            assertThat(p.get("inFlightBytes").asLong()).isZero();
            assertThat(p.get("deadLetters").asLong()).isZero();
            assertThat(p.get("restarts").asLong()).isZero();
            assertThat(p.get("lastError").isNull()).isTrue();
            assertThat(p.get("origins").get(0).get("origin").asText()).isEqualTo(log.toString());
            await().atMost(Duration.ofSeconds(10)).until(() -> service.pipeline("items").get("offsets").size() == 1);
            assertThat(p.has("lagBytes")).isTrue();

            String metrics = service.get("/metrics").body();
            assertThat(metrics).contains("changepipe_pusher_acked_items_total{pipeline=\"items\"}")
                    .contains("changepipe_pusher_inflight_bytes{pipeline=\"items\"}")
                    .contains("changepipe_sink_items_total{pipeline=\"items\",sink=\"clickhouse\"} 2000")
                    .contains("changepipe_sink_write_seconds_count{pipeline=\"items\",sink=\"clickhouse\"}")
                    .contains("changepipe_source_oplog_lines_read_total{pipeline=\"items\",source=\"items\"} 2000")
                    // the JVM's and the process's own meters
                    .contains("jvm_gc_pause_seconds").contains("jvm_threads_live_threads").contains("process_cpu_usage")
                    .contains("process_uptime_seconds").contains("jvm_memory_used_bytes");
            // every meter of the pipeline's components carries its pipeline, whoever registered it
            assertThat(metrics.lines().filter(l -> l.startsWith("changepipe_")))
                    .isNotEmpty()
                    .allSatisfy(l -> assertThat(l).contains("pipeline=\"items\""));

            HttpResponse<String> notFound = service.get("/nope");
            assertThat(notFound.statusCode()).isEqualTo(404);
            assertThat(ServiceUnderTest.json(notFound).get("error").asText()).contains("/nope");
            assertThat(service.get("/api/offsets/reset").statusCode()).isEqualTo(405);
            HttpResponse<String> noToken = service.post("/api/offsets/reset", null, "{\"origin\":\"x\"}");
            assertThat(noToken.statusCode()).isEqualTo(401);
            assertThat(noToken.headers().firstValue("Content-Type")).hasValue("application/json");
            assertThat(ServiceUnderTest.json(noToken).get("status").asInt()).isEqualTo(401);
            assertThat(service.post("/api/offsets/reset", "wrong-token-000000000", "{\"origin\":\"x\"}").statusCode()).isEqualTo(401);
            HttpResponse<String> malformed = service.post("/api/offsets/reset", ServiceUnderTest.TOKEN, "{not json");
            assertThat(malformed.statusCode()).isEqualTo(400);
            assertThat(ServiceUnderTest.json(malformed).get("error").asText()).startsWith("malformed JSON");
            assertThat(service.post("/api/offsets/reset", ServiceUnderTest.TOKEN, "{}").statusCode()).isEqualTo(400);
            assertThat(service.post("/api/offsets/reset", ServiceUnderTest.TOKEN, "{\"origin\":\"/unknown\"}").statusCode())
                    .isEqualTo(404);

            // the CLI talks to the running service
            var status = ServiceUnderTest.launcher(Map.of(), "status", "--url", service.url(""));
            assertThat(status.getKey()).isZero();
            assertThat(status.getValue()).contains("items").contains("RUNNING").contains("2,000");
            var offsets = ServiceUnderTest.launcher(Map.of(), "offsets", "--url", service.url(""));
            // offsets are shown as the source reads them too: the log's generation and byte position
            assertThat(offsets.getValue()).contains(log.toString()).containsPattern("generation \\d+, byte \\d+");
            assertThat(service.pipeline("items").get("offsets").get(0).get("position").asText())
                    .matches("generation \\d+, byte \\d+");

            // follow mode: appended lines are replicated
            ServiceUnderTest.appendItems(log, 2001, 3000, "a");
            await().ignoreExceptions().atMost(Duration.ofSeconds(60)).until(() -> count(ch, db) == 3000);

            // an offset reset through the CLI re-reads the file; versions make the replay idempotent
            var reset = ServiceUnderTest.launcher(Map.of("CHANGEPIPE_TOKEN", ServiceUnderTest.TOKEN),
                    "offsets", "--url", service.url(""), "--reset", log.toString());
            assertThat(reset.getValue()).contains("reset " + log);
            assertThat(reset.getKey()).isZero();
            await().atMost(Duration.ofSeconds(60)).until(() -> service.pipeline("items").get("itemsWritten").asLong() == 6000);
            assertThat(count(ch, db)).isEqualTo(3000);

            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
            assertThat(service.output()).doesNotContain(ServiceUnderTest.TOKEN);
            for (String line : service.output().lines().toList()) {
                assertThat(line).matches("^\\d{4}-\\d\\d-\\d\\dT.*");
            }
        }
    }

    @Test
    void aSinkThatRetriesSaysSoAtOnceInTheStatusAndTheErrorCounter(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 100, "r");
        int closed;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            closed = socket.getLocalPort(); // nothing listens there once it is closed
        }
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, "http://127.0.0.1:" + closed, "nowhere", ""));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            // the sink retries for its retryDeadline (minutes) before the write fails: it shows meanwhile
            await().atMost(Duration.ofSeconds(30)).until(() -> service.pipeline("items").get("lastError").asText()
                    .contains("sink clickhouse is retrying"));
            assertThat(service.pipeline("items").get("state").asText()).isEqualTo("RUNNING");
            assertThat(service.pipeline("items").get("restarts").asLong()).isZero();
            String metrics = service.get("/metrics").body();
            assertThat(metrics.lines().filter(l -> l.startsWith("changepipe_sink_errors_total{"))
                    .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum()).isPositive();
        }
    }

    @Test
    void anOutOfMemoryErrorEndsTheProcessWithANonZeroExitInsteadOfALiveProcessThatReportsReady(@TempDir Path dir)
            throws Exception {
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 1_000, "m");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, """
                http: {port: 0}
                checkpoints: {directory: %1$s/checkpoints}
                pipelines:
                  - name: hog
                    source: {type: oplog-file, path: %2$s, mode: follow}
                    sinks: [{type: memory, id: hog, outOfMemory: true}]
                """.formatted(dir, log));
        // the test sink is on the plugin class path; the heap is the default the launcher gives
        Map<String, String> env = Map.of("PIPELINE_CLASSPATH",
                ServiceUnderTest.ROOT.resolve("service/target/test-classes").toString());

        Map.Entry<Integer, String> run = ServiceUnderTest.launcher(env, "run", "--config", config.toString());

        assertThat(run.getKey()).as(run.getValue()).isEqualTo(3);
        assertThat(run.getValue()).contains("OutOfMemoryError");
    }

    @Test
    void runExitsZeroOnceEveryPipelineCompletedItsSnapshot(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_snapshot");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 50_000, "s");
        Path other = dir.resolve("other.log");
        ServiceUnderTest.appendItems(other, 1, 2_000, "o");
        String second = """
                  - name: other
                    source: {type: oplog-file, path: %s, mode: snapshot}
                    sinks: [{type: noop}]
                """.formatted(other);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, second)
                .replace("mode: follow", "mode: snapshot"));

        Map.Entry<Integer, String> run = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());

        assertThat(run.getKey()).as(run.getValue()).isZero();
        assertThat(run.getValue()).contains("every pipeline completed").contains("service: stopped")
                .contains("pipeline other: sink noop accepted 2000 items").doesNotContain("not drained");
        assertThat(count(ch, db)).isEqualTo(50_000);
        assertThat(position(checkpoints(dir).get(0))).isEqualTo(Files.size(log));
    }

    @Test
    void sigtermStopsReadingDrainsSavesCheckpointsAndExitsZero(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_sigterm");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 300_000, "b");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, ""));
        long position;
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().atMost(Duration.ofSeconds(60)).until(() -> service.pipeline("items").get("itemsWritten").asLong() > 20_000);
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
            assertThat(service.output()).contains("service: stopped").doesNotContain("not drained");
            position = position(checkpoints(dir).get(0));
            assertThat(position).isPositive();
        }
        // every line before the checkpoint is in ClickHouse: the checkpoint never ran ahead of the sink
        long linesBefore = Files.readString(log).substring(0, (int) position).lines().count();
        assertThat(count(ch, db)).isGreaterThanOrEqualTo(linesBefore);
        // and the next run resumes from there to the end
        try (ServiceUnderTest again = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().ignoreExceptions().atMost(Duration.ofSeconds(120)).until(() -> count(ch, db) == 300_000);
            assertThat(again.terminate(Duration.ofSeconds(40))).isZero();
        }
    }

    @Test
    void crashRestartResumesFromTheCheckpoint(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_crash");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 300_000, "c");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, ""));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().atMost(Duration.ofSeconds(60)).until(() -> !checkpoints(dir).isEmpty()
                    && position(checkpoints(dir).get(0)) > 2_000_000);
            service.kill();
        }
        long resumedAt = position(checkpoints(dir).get(0));
        assertThat(resumedAt).isLessThan(Files.size(log));
        try (ServiceUnderTest again = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().ignoreExceptions().atMost(Duration.ofSeconds(120)).until(() -> count(ch, db) == 300_000);
            // resumed: the second run read only what lay after its checkpoint
            String metrics = again.get("/metrics").body();
            long linesRead = metrics.lines().filter(l -> l.startsWith("changepipe_source_oplog_lines_read_total"))
                    .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
            long linesAfter = Files.readString(log).substring((int) resumedAt).lines().count();
            assertThat(linesRead).isEqualTo(linesAfter).isLessThan(300_000);
            assertThat(again.terminate(Duration.ofSeconds(40))).isZero();
        }
    }

    @Test
    void failingPipelineIsRestartedWithBackoffAndReportedWhileTheOthersRun(ClickHouseServer ch, @TempDir Path dir)
            throws Exception {
        String db = ch.createDatabase("service_restart");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 1000, "d");
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        String broken = """
                  - name: broken
                    source:
                      type: oplog-file
                      path: %s
                    sinks:
                      - type: clickhouse
                        connection: nowhere
                        retryDeadline: 200ms
                """.formatted(log);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, broken)
                .replace("connections:\n  clickhouse:\n", "connections:\n  clickhouse:\n    nowhere:\n      endpoints: [\"http://127.0.0.1:" + closedPort + "\"]\n"));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().atMost(Duration.ofSeconds(60)).until(() -> service.pipeline("broken").get("restarts").asLong() >= 2);
            JsonNode b = service.pipeline("broken");
            assertThat(b.get("lastError").asText()).contains("127.0.0.1:" + closedPort);
            assertThat(service.pipeline("items").get("restarts").asLong()).isZero();
            await().ignoreExceptions().atMost(Duration.ofSeconds(60)).until(() -> count(ch, db) == 1000);
            HttpResponse<String> ready = service.get("/health/ready");
            assertThat(ready.statusCode()).isEqualTo(503);
            assertThat(ServiceUnderTest.json(ready).get("problems").toString()).contains(":" + closedPort);
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
        }
    }
}
