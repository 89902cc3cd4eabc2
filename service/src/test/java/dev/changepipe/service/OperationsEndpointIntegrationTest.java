package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /api/operations} through the service as an application uses it: many clients, one pk per
 * request, each on a keep-alive connection; and {@code run} with a {@code storage-sync} source that
 * drains its queue ({@code untilEmpty}).
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class})
class OperationsEndpointIntegrationTest {

    private static final Map<String, String> ENV = Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN);

    /** A storage-sync pipeline of import key {@code app.item} with a noop sink; {@code extra} goes into its source section. */
    private static String config(Path dir, RedisServer redis, PostgresServer pg, String db, String prefix, String extra) {
        return """
                http:
                  port: 0
                  portFile: %1$s/http.port
                  token: ${SERVICE_TOKEN}
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  redis:
                    ops:
                      uri: %2$s
                  postgres:
                    app:
                      url: %3$s
                pipelines:
                  - name: sync
                    source:
                      type: storage-sync
                      connection: ops
                      keyPrefix: %4$s
                      importKeys:
                        app.item: {}
                      databases:
                        default: app
                %5$s    sinks:
                      - type: noop
                """.formatted(dir, redis.uri(), pg.r2dbcUrl(db), prefix, extra);
    }

    private static String prefix() {
        return "t" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
    }

    /** One HTTP/1.1 exchange on an open connection: the status and the body. */
    private record Response(int status, String body) {
    }

    private static Response exchange(Socket socket, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /api/operations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Authorization: Bearer " + ServiceUnderTest.TOKEN + "\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
        InputStream in = socket.getInputStream();
        String status = line(in);
        int length = -1;
        String closing = null;
        for (String header = line(in); !header.isEmpty(); header = line(in)) {
            String name = header.substring(0, header.indexOf(':')).trim().toLowerCase();
            String value = header.substring(header.indexOf(':') + 1).trim();
            if (name.equals("content-length")) {
                length = Integer.parseInt(value);
            } else if (name.equals("connection")) {
                closing = value;
            }
        }
        assertThat(length).as("Content-Length of " + status).isNotNegative();
        assertThat(String.valueOf(closing)).as("Connection header of " + status).isNotEqualToIgnoringCase("close");
        String answer = new String(in.readNBytes(length), StandardCharsets.UTF_8);
        return new Response(Integer.parseInt(status.split(" ")[1]), answer);
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("the server closed the connection after '" + b + "'");
            }
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return b.toString();
    }

    @Test
    void concurrentOnePkRegistrationsOnKeepAliveConnectionsAreInRedisWhenAnswered(RedisServer redis, PostgresServer pg,
            @TempDir Path dir) throws Exception {
        String db = pg.createDatabase("operations_endpoint");
        String prefix = prefix();
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, redis, pg, db, prefix, ""));
        int clients = 8;
        int perClient = 250;
        try (RedisClient client = RedisClient.create(redis.uri());
                StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> r = connection.sync();
            String queue = prefix + ":operations:app.item";
            // Another worker's sync lock (as django-clickhouse's): the service's sync leaves the queue alone.
            r.psetex(prefix + ":lock:app.item", 600_000, "another-worker");
            try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
                registerConcurrently(service, r, queue, clients, perClient);
                assertThat(service.terminate(java.time.Duration.ofSeconds(40))).isZero();
            }
            assertThat(r.zcard(queue)).isEqualTo((long) clients * perClient + clients);
        }
    }

    /**
     * {@code clients} threads, each with one connection for all its requests, register {@code perClient}
     * pks one per request; each answer is checked against Redis. Then each sends a bad request and one
     * more good one on the same connection.
     */
    private static void registerConcurrently(ServiceUnderTest service, RedisCommands<String, String> r, String queue,
            int clients, int perClient) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<Integer>> done = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int first = c * perClient;
                done.add(pool.submit(() -> {
                    // one connection per client for all its requests: each is answered on it
                    try (Socket socket = new Socket("127.0.0.1", service.port)) {
                        socket.setSoTimeout(30_000);
                        socket.setTcpNoDelay(true);
                        for (int pk = first; pk < first + perClient; pk++) {
                            Response answer = exchange(socket, "{\"importKey\": \"app.item\", \"operation\": \"update\","
                                    + " \"pks\": [" + pk + "]}");
                            assertThat(answer.status()).as(answer.body()).isEqualTo(200);
                            assertThat(answer.body()).isEqualTo("{\"registered\":1}");
                            // answered only once Redis holds it
                            assertThat(r.zscore(queue, "update:default." + pk)).as("pk " + pk).isNotNull();
                        }
                        // an error on the same connection is answered, and the connection serves on
                        Response refused = exchange(socket, "{\"importKey\": \"app.item\", \"operation\": \"upsert\","
                                + " \"pks\": [1]}");
                        assertThat(refused.status()).isEqualTo(400);
                        assertThat(refused.body()).contains("'operation'");
                        Response again = exchange(socket, "{\"importKey\": \"app.item\", \"operation\": \"update\","
                                + " \"pks\": [" + first + ", \"x" + first + "\"]}");
                        assertThat(again.status()).isEqualTo(200);
                        assertThat(again.body()).isEqualTo("{\"registered\":1}");
                    }
                    return perClient;
                }));
            }
            for (Future<Integer> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRegistrationWhileRedisIsUnreachableIsA503NamingTheStorage(PostgresServer pg, @TempDir Path dir) throws Exception {
        String db = pg.createDatabase("operations_unreachable");
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, new RedisServer("127.0.0.1", closed), pg, db, prefix(), ""));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            java.net.http.HttpResponse<String> answer = service.post("/api/operations", ServiceUnderTest.TOKEN,
                    "{\"importKey\": \"app.item\", \"operation\": \"update\", \"pks\": [1]}");

            assertThat(answer.statusCode()).as(answer.body()).isEqualTo(503);
            assertThat(ServiceUnderTest.json(answer).get("error").asText())
                    .contains("operations storage of pipeline sync failed").contains("redis").contains(":" + closed);
        }
    }

    @Test
    void runExitsZeroOnceAStorageSyncUntilEmptyDrainedItsQueue(RedisServer redis, PostgresServer pg, @TempDir Path dir)
            throws Exception {
        String db = pg.createDatabase("operations_drain");
        pg.execute(db, "CREATE TABLE app_item (id bigint PRIMARY KEY, name text NOT NULL)");
        pg.execute(db, "INSERT INTO app_item SELECT g, 'item ' || g FROM generate_series(1, 2500) g");
        String prefix = prefix();
        String queue = prefix + ":operations:app.item";
        try (RedisClient client = RedisClient.create(redis.uri());
                StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> r = connection.sync();
            for (int pk = 1; pk <= 2500; pk++) {
                r.zadd(queue, pk, "update:default." + pk);
            }
            Path config = dir.resolve("service.yaml");
            Files.writeString(config, config(dir, redis, pg, db, prefix, "      untilEmpty: true\n"));

            Map.Entry<Integer, String> run = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());

            assertThat(run.getKey()).as(run.getValue()).isZero();
            assertThat(run.getValue()).contains("every pipeline completed").contains("service: stopped")
                    .contains("sink noop accepted 2500 items").doesNotContain("not drained");
            assertThat(r.zcard(queue)).isZero();
        }
    }
}
