package dev.changepipe.service;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The service as a user runs it: {@code ./pipeline run --config FILE} in a child process, its output
 * in a log file, its HTTP port read from the port file. Not a base class: tests hold one.
 */
final class ServiceUnderTest implements AutoCloseable {

    static final Path ROOT = Path.of(System.getProperty("changepipe.root", "..")).toAbsolutePath().normalize();
    static final String TOKEN = "test-token-0123456789";
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final Process process;
    final Path log;
    final int port;

    private ServiceUnderTest(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** Runs the launcher with {@code args}, waits for it, returns its exit code and output. */
    static Map.Entry<Integer, String> launcher(Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(ROOT.resolve("pipeline").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("PIPELINE_SKIP_BUILD", "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("launcher did not finish: " + out);
        }
        return Map.entry(p.exitValue(), out);
    }

    /** Starts {@code ./pipeline run} on a config; {@code portFile} must be what the config's http.portFile says. */
    static ServiceUnderTest start(Path dir, Path config, Path portFile, Map<String, String> env) throws IOException {
        Files.deleteIfExists(portFile);
        Path log = Files.createTempFile(dir, "service-", ".log");
        ProcessBuilder pb = new ProcessBuilder(ROOT.resolve("pipeline").toString(), "run", "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PIPELINE_SKIP_BUILD", "1");
        pb.environment().put("PIPELINE_JAVA_OPTS", "-Xmx512m");
        pb.environment().putAll(env);
        Process process = pb.start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                if (!process.isAlive()) {
                    throw new AssertionError("service exited with " + process.exitValue() + ":\n" + Files.readString(log));
                }
                return Files.exists(portFile);
            });
        } catch (RuntimeException | Error e) {
            process.destroyForcibly();
            throw e;
        }
        return new ServiceUnderTest(process, log, Integer.parseInt(Files.readString(portFile).trim()));
    }

    String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String token, String body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> response) throws IOException {
        return AdminServer.JSON.readTree(response.body());
    }

    /** The pipeline's entry of {@code /api/pipelines}. */
    JsonNode pipeline(String name) throws IOException, InterruptedException {
        for (JsonNode p : json(get("/api/pipelines")).get("pipelines")) {
            if (p.get("name").asText().equals(name)) {
                return p;
            }
        }
        throw new AssertionError("no pipeline " + name);
    }

    String output() throws IOException {
        return Files.readString(log);
    }

    /** SIGTERM; waits for the exit and returns its code. */
    int terminate(Duration within) throws Exception {
        process.destroy();
        if (!process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("service did not exit within " + within + " after SIGTERM:\n" + output());
        }
        return process.exitValue();
    }

    /** SIGKILL: a crash. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
    }

    /** Django-style log lines of model {@code app.item}: pks {@code from..to}, name {@code prefix + pk}. */
    static void appendItems(Path file, int from, int to, String prefix) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int id = from; id <= to; id++) {
            b.append(1_700_000_000 + id).append(" SAVE [{\"model\": \"app.item\", \"pk\": ").append(id)
                    .append(", \"fields\": {\"name\": \"").append(prefix).append(id).append("\"}}]\n");
        }
        Files.writeString(file, b, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
    }

    /** A config replicating {@code log} into {@code database.app_item} of ClickHouse at {@code url}. */
    static String config(Path dir, Path log, String clickHouseUrl, String database, String extraPipelines) {
        return """
                http:
                  host: 127.0.0.1
                  port: 0
                  portFile: %1$s/http.port
                  token: ${SERVICE_TOKEN}
                logging:
                  level: INFO
                checkpoints:
                  directory: %1$s/checkpoints
                shutdown:
                  timeout: 30s
                restart:
                  minBackoff: 500ms
                  maxBackoff: 2s
                connections:
                  clickhouse:
                    test:
                      endpoints: ["%3$s"]
                      database: %4$s
                pipelines:
                  - name: items
                    source:
                      type: oplog-file
                      path: %2$s
                      mode: follow
                      pollInterval: 200ms
                      chunkMaxBytes: 64KiB
                    pusher:
                      kind: parse-queue
                      parallelism: 2
                      inFlightLimit: 1MiB
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          app.item:
                            create:
                              columns: ["id UInt64", "name String"]
                              orderBy: [id]
                %5$s""".formatted(dir, log, clickHouseUrl, database, extraPipelines);
    }
}
