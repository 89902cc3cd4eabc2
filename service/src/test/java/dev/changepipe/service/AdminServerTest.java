package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.HttpReply;
import dev.changepipe.spi.HttpRequest;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;

/** The admin server over raw HTTP/1.1, so that malformed requests and bodies never sent can be made. */
class AdminServerTest {

    private static final String TOKEN = "admin-token-0123456789";

    private PrometheusMeterRegistry registry;
    private HttpEventLoops loops;
    private DisposableServer server;

    @BeforeEach
    void start(@TempDir Path dir) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                http:
                  port: 0
                  token: %s
                checkpoints:
                  directory: %s
                pipelines:
                  - name: one
                    source: {type: counting, count: 10, chunkSize: 5}
                    sinks: [{type: memory, id: admin-server-test}]
                """.formatted(TOKEN, dir.resolve("checkpoints")));
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        ReplicationService service = new ReplicationService(config,
                new Components(config, dir, registry, getClass().getClassLoader()), registry);
        loops = HttpEventLoops.create(1);
        service.components().share(io.lettuce.core.resource.ClientResources.class, loops.redis());
        List<HttpEndpoint> endpoints = new ArrayList<>(service.components().endpoints());
        endpoints.add(ECHO);
        server = new AdminServer(service, registry, config.http(), loops.group(), endpoints)
                .bind().block(Duration.ofSeconds(30));
    }

    @AfterEach
    void stop() {
        server.disposeNow(Duration.ofSeconds(5));
        loops.close();
    }

    /** Sends the request head (and no body), returns the status line and what follows. */
    private String exchange(String head) throws IOException {
        return exchange(head, true);
    }

    /** {@code close}: whether the request asks to close the connection after the answer. */
    private String exchange(String head, boolean close) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write((head + "Host: localhost\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream response = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            // read what arrives until the server closes or has sent the whole response
            int n;
            while ((n = in.read(buf)) > 0) {
                response.write(buf, 0, n);
                String text = response.toString(StandardCharsets.UTF_8);
                int end = text.indexOf("\r\n\r\n");
                if (end > 0) {
                    int length = contentLength(text.substring(0, end));
                    if (length >= 0 && response.size() >= end + 4 + length || head.startsWith("HEAD ")) {
                        break;
                    }
                }
            }
            return response.toString(StandardCharsets.UTF_8);
        }
    }

    private static String headers(String answer) {
        return answer.substring(0, answer.indexOf("\r\n\r\n") + 2);
    }

    private static int contentLength(String headers) {
        for (String line : headers.split("\r\n")) {
            if (line.toLowerCase().startsWith("content-length:")) {
                return Integer.parseInt(line.substring("content-length:".length()).trim());
            }
        }
        return -1;
    }

    /** A connector's endpoint as the server sees one: answers its path's last part, percent-decoded. */
    private static final HttpEndpoint ECHO = new HttpEndpoint() {
        @Override
        public String prefix() {
            return "/api/echo/";
        }

        @Override
        public Mono<HttpReply> handle(HttpRequest request) {
            return Mono.just(HttpReply.json(200, Map.of("echo",
                    HttpRequest.decode(request.path().substring(prefix().length())), "method", request.method(),
                    "query", request.query())));
        }
    };

    @Test
    void aConnectorsEndpointAnswersUnderItsPrefixAndItsPostsNeedTheToken() throws IOException {
        assertThat(exchange("GET /api/echo/a%20b HTTP/1.1\r\n")).startsWith("HTTP/1.1 200").contains("\"echo\":\"a b\"");
        assertThat(exchange("POST /api/echo/x HTTP/1.1\r\nContent-Length: 0\r\n")).startsWith("HTTP/1.1 401");
        assertThat(exchange("POST /api/echo/x HTTP/1.1\r\nAuthorization: Bearer " + TOKEN + "\r\nContent-Length: 0\r\n"))
                .startsWith("HTTP/1.1 200").contains("\"method\":\"POST\"");
    }

    @Test
    void malformedPercentEncodingIsA400() throws IOException {
        assertThat(exchange("GET /api/pipelines?x=%zz HTTP/1.1\r\n")).startsWith("HTTP/1.1 400").contains("malformed percent-encoding");
        assertThat(exchange("GET /api/echo/%E0%A4%A HTTP/1.1\r\n")).startsWith("HTTP/1.1 400");
    }

    @Test
    void theBodyLimitAndTheTokenAreEnforcedBeforeABodyIsRead() throws IOException {
        // 50 MB announced, none sent: an answer that waited for the body would never come
        String big = "Content-Type: application/json\r\nContent-Length: 52428800\r\n";
        assertThat(exchange("POST /api/offsets/reset HTTP/1.1\r\n" + big)).startsWith("HTTP/1.1 401");
        assertThat(exchange("POST /api/offsets/reset HTTP/1.1\r\nAuthorization: Bearer " + TOKEN + "\r\n" + big))
                .startsWith("HTTP/1.1 413");
        assertThat(exchange("GET /health/live HTTP/1.1\r\n" + big)).startsWith("HTTP/1.1 413");
        assertThat(exchange("POST /nowhere HTTP/1.1\r\n" + big)).startsWith("HTTP/1.1 413");
        assertThat(exchange("POST /api/echo/x HTTP/1.1\r\n" + big)).startsWith("HTTP/1.1 401");
    }

    @Test
    void headWorksWhereverGetDoes() throws IOException {
        for (String path : new String[] {"/", "/health/live", "/metrics", "/api/pipelines", "/api/pipelines/one", "/api/offsets"}) {
            String get = exchange("GET " + path + " HTTP/1.1\r\n");
            String head = exchange("HEAD " + path + " HTTP/1.1\r\n");
            assertThat(head).as(path).startsWith("HTTP/1.1 200").endsWith("\r\n\r\n");
            assertThat(get).as(path).startsWith("HTTP/1.1 200");
        }
        assertThat(exchange("HEAD /api/offsets/reset HTTP/1.1\r\n")).startsWith("HTTP/1.1 405");
        assertThat(exchange("HEAD /api/echo/x HTTP/1.1\r\n")).startsWith("HTTP/1.1 200").endsWith("\r\n\r\n");
        // the same length as the body of a GET
        String get = exchange("GET /api/pipelines/one HTTP/1.1\r\n");
        String head = exchange("HEAD /api/pipelines/one HTTP/1.1\r\n");
        assertThat(contentLength(head)).isPositive().isEqualTo(contentLength(get))
                .isEqualTo(get.substring(get.indexOf("\r\n\r\n") + 4).getBytes(StandardCharsets.UTF_8).length);
    }

    @Test
    void aWrongMethodIsA405AndAnUnknownPathA404BothAsJsonErrors() throws IOException {
        for (String request : new String[] {"POST /api/pipelines", "PUT /api/pipelines/one", "DELETE /health/live",
                "POST /health/ready", "PATCH /metrics", "POST /", "OPTIONS /index.html", "POST /api/offsets",
                "GET /api/offsets/reset", "DELETE /api/pipelines/nope"}) {
            assertThat(exchange(request + " HTTP/1.1\r\nContent-Length: 0\r\n")).as(request)
                    .startsWith("HTTP/1.1 405").contains("\"status\":405").contains("\"error\":\"method ");
        }
        for (String request : new String[] {"GET /nope", "POST /nope", "HEAD /nope", "GET /api", "GET /health",
                "GET /api/pipeline", "GET /api/offsets/", "GET /metrics/x"}) {
            String answer = exchange(request + " HTTP/1.1\r\nContent-Length: 0\r\n");
            assertThat(answer).as(request).startsWith("HTTP/1.1 404").contains("Content-Type: application/json");
            if (!request.startsWith("HEAD")) {
                assertThat(answer).as(request).contains("{\"error\":\"no such endpoint: " + request.substring(request.indexOf(' ') + 1)
                        + "\",\"status\":404}");
            }
        }
        assertThat(exchange("GET /api/pipelines/nope HTTP/1.1\r\n")).startsWith("HTTP/1.1 404")
                .contains("{\"error\":\"no pipeline named 'nope'\",\"status\":404}");
        assertThat(exchange("GET /api/pipelines/ HTTP/1.1\r\n")).startsWith("HTTP/1.1 404")
                .contains("no pipeline named ''");
    }

    @Test
    void everyAnswerIsNotToBeCachedAndRefusalsCloseTheConnection() throws IOException {
        for (String request : new String[] {"GET /", "GET /health/live", "GET /metrics", "GET /api/pipelines",
                "GET /api/offsets", "GET /nope", "GET /api/echo/x"}) {
            String answer = headers(exchange(request + " HTTP/1.1\r\n", false));
            assertThat(answer).as(request).contains("Cache-Control: no-store").doesNotContainIgnoringCase("connection: close");
        }
        assertThat(headers(exchange("POST /api/offsets/reset HTTP/1.1\r\nContent-Length: 0\r\n", false)))
                .startsWith("HTTP/1.1 401").contains("Cache-Control: no-store").containsIgnoringCase("connection: close");
        assertThat(headers(exchange("GET /health/live HTTP/1.1\r\nContent-Length: 52428800\r\n", false)))
                .startsWith("HTTP/1.1 413").containsIgnoringCase("connection: close");
        // a 4xx whose body was read keeps the connection
        assertThat(headers(exchange("POST /api/offsets/reset HTTP/1.1\r\nAuthorization: Bearer " + TOKEN
                + "\r\nContent-Length: 0\r\n", false))).startsWith("HTTP/1.1 400").doesNotContainIgnoringCase("connection: close");
    }

    @Test
    void theQueryIsDecodedForAConnectorsEndpoint() throws IOException {
        assertThat(exchange("GET /api/echo/q?a=1&b=x%20y&a=2&c HTTP/1.1\r\n"))
                .startsWith("HTTP/1.1 200").contains("\"query\":{\"a\":[\"1\",\"2\"],\"b\":[\"x y\"],\"c\":[\"\"]}");
        assertThat(exchange("GET /api/echo/q?e=a+b%2Bc HTTP/1.1\r\n")).contains("\"query\":{\"e\":[\"a b+c\"]}");
        assertThat(exchange("GET /api/echo/q?x=%zz HTTP/1.1\r\n")).startsWith("HTTP/1.1 400")
                .contains("malformed percent-encoding").contains("\"status\":400");
        // a ';' is part of a value, as before
        assertThat(exchange("GET /api/echo/q?k=a;b HTTP/1.1\r\n")).contains("\"query\":{\"k\":[\"a;b\"]}");
        assertThat(exchange("GET /api/echo/q?k=a?b HTTP/1.1\r\n")).contains("\"query\":{\"k\":[\"a?b\"]}");
        // the router's templates end a path at the last '?': a '?' within the query of a built-in endpoint is refused
        assertThat(exchange("GET /api/pipelines?k=a?b HTTP/1.1\r\n")).startsWith("HTTP/1.1 400").contains("%3F");
        assertThat(exchange("GET /api/pipelines?k=a%3Fb HTTP/1.1\r\n")).startsWith("HTTP/1.1 200");
    }

    @Test
    void refusedTokensAreCounted() throws IOException {
        exchange("POST /api/offsets/reset HTTP/1.1\r\nAuthorization: Bearer nope\r\nContent-Length: 0\r\n");
        exchange("POST /api/offsets/reset HTTP/1.1\r\nAuthorization: Bearer nope-again\r\nContent-Length: 0\r\n");
        exchange("POST /api/offsets/reset HTTP/1.1\r\nContent-Length: 0\r\n");
        assertThat(registry.counter(AdminServer.REFUSED, "reason", "wrong").count()).isEqualTo(2);
        assertThat(registry.counter(AdminServer.REFUSED, "reason", "missing").count()).isEqualTo(1);
        assertThat(exchange("GET /metrics HTTP/1.1\r\n")).contains("changepipe_http_refused_total{reason=\"wrong\"} 2.0");
    }

    /**
     * The event loop also answers registrations: a scrape of every meter (and the status the dashboard
     * polls) is rendered on another thread, so that registrations never wait behind it.
     */
    @Test
    void metricsAreRenderedOffTheEventLoop() throws IOException {
        AtomicReference<String> scrapedOn = new AtomicReference<>();
        registry.gauge("admin_server_test_probe", List.of(), scrapedOn, ref -> {
            ref.set(Thread.currentThread().getName());
            return 1;
        });
        assertThat(exchange("GET /metrics HTTP/1.1\r\n")).startsWith("HTTP/1.1 200").contains("admin_server_test_probe 1.0");
        assertThat(scrapedOn.get()).isNotNull().doesNotStartWith(HttpEventLoops.THREAD_PREFIX);
    }
}
