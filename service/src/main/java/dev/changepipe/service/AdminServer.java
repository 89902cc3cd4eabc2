package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.HttpException;
import dev.changepipe.spi.HttpReply;
import dev.changepipe.spi.HttpRequest;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;

/**
 * The HTTP admin interface on Reactor Netty (docs/service.md, "HTTP"). Bound to {@code http.host},
 * loopback by default. Read-only endpoints are open ({@code GET}, and {@code HEAD} wherever
 * {@code GET} is); mutating ones ({@code POST}) need {@code Authorization: Bearer <http.token>}, and are
 * refused when no token is configured. The size limit and the token are checked before a body is
 * read; refused tokens are counted ({@value #REFUSED}) and logged at a bounded rate. Every error is a
 * JSON body {@code {"error": "...", "status": N}}.
 *
 * <p>Connectors add endpoints of their own ({@link HttpEndpoint}s from their providers: the operations
 * storage's registrations, the hot storage's lookups) without this class knowing them.
 */
final class AdminServer {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_BODY_BYTES = 16 << 20;
    /** Requests refused for their token (tag {@code reason}: missing, wrong, disabled). */
    static final String REFUSED = "changepipe.http.refused";
    static final java.time.Duration REFUSED_LOG_INTERVAL = java.time.Duration.ofSeconds(10);

    private final ReplicationService service;
    private final PrometheusMeterRegistry prometheus;
    private final ServiceConfig.Http http;
    private final EventLoopGroup loops;
    private final List<HttpEndpoint> endpoints;
    private final byte[] dashboard;
    private final java.util.concurrent.atomic.AtomicLong lastRefusedLog =
            new java.util.concurrent.atomic.AtomicLong(System.nanoTime() - REFUSED_LOG_INTERVAL.toNanos());
    private final java.util.concurrent.atomic.AtomicLong refusedSinceLog = new java.util.concurrent.atomic.AtomicLong();

    /** {@code loops}: the event loops to run on, shared with the endpoints' Redis connections ({@link HttpEventLoops}). */
    AdminServer(ReplicationService service, PrometheusMeterRegistry prometheus, ServiceConfig.Http http, EventLoopGroup loops,
            List<HttpEndpoint> endpoints) {
        this.service = service;
        this.prometheus = prometheus;
        this.http = http;
        this.loops = loops;
        this.endpoints = List.copyOf(endpoints);
        this.dashboard = resource("dashboard.html");
    }

    /** Binds the server; emits it once it listens. */
    Mono<DisposableServer> bind() {
        return HttpServer.create()
                .runOn(loops)
                .host(http.host())
                .port(http.port())
                .handle(this::handle)
                .bind()
                .<DisposableServer>map(s -> s)
                .doOnNext(s -> log.info("http: listening on {}:{}", http.host(), s.port()));
    }

    private Publisher<Void> handle(HttpServerRequest request, HttpServerResponse response) {
        Mono<HttpReply> reply = Mono.defer(() -> {
            // Everything that can refuse a request does so before its body is read.
            Target target = target(request);
            if (needsToken(request.method(), target.path())) {
                authorize(request);
            }
            if (contentLength(request) > MAX_BODY_BYTES) {
                throw new HttpException(413, "body larger than " + MAX_BODY_BYTES + " bytes");
            }
            return body(request).flatMap(body -> dispatch(request, target, body));
        })
                .onErrorResume(HttpException.class, e -> Mono.just(error(e.status(), e.getMessage())))
                .onErrorResume(e -> {
                    log.error("http: {} {} failed: {}", request.method(), request.path(), e.toString());
                    return Mono.just(error(500, "internal error: " + e.getMessage()));
                });
        return reply.flatMap(r -> {
            response.status(r.status())
                    .header("Content-Type", r.contentType())
                    .header("Cache-Control", "no-store");
            if (r.status() == 413 || r.status() == 401 || r.status() == 403) {
                // the body was not read: do not keep the connection for a next request
                response.keepAlive(false);
            }
            if (request.method().equals(HttpMethod.HEAD)) {
                response.header("Content-Length", Integer.toString(r.body().length));
                return response.send().then();
            }
            return response.sendByteArray(Mono.just(r.body())).then();
        });
    }

    /** The path and decoded query of a request; 400 when its percent-encoding is malformed. */
    record Target(String path, Map<String, List<String>> query) {
    }

    private static Target target(HttpServerRequest request) {
        String uri = request.uri();
        int q = uri.indexOf('?');
        String path = q < 0 ? uri : uri.substring(0, q);
        return new Target(path, query(q < 0 ? "" : uri.substring(q + 1)));
    }

    private static long contentLength(HttpServerRequest request) {
        String header = request.requestHeaders().get("Content-Length");
        if (header == null) {
            return -1;
        }
        try {
            return Long.parseLong(header.trim());
        } catch (NumberFormatException e) {
            throw new HttpException(400, "malformed Content-Length: " + header);
        }
    }

    /** Whether the endpoint a request goes to needs the bearer token. */
    private boolean needsToken(HttpMethod method, String path) {
        for (HttpEndpoint endpoint : endpoints) {
            if (path.startsWith(endpoint.prefix())) {
                return endpoint.mutating(method.name());
            }
        }
        return path.equals("/api/offsets/reset") && method.equals(HttpMethod.POST);
    }

    /** The body, read up to the limit (a body without Content-Length is cut off at the limit: 413). */
    private static Mono<byte[]> body(HttpServerRequest request) {
        return request.receive().retain()
                .reduce(new java.io.ByteArrayOutputStream(), (out, buf) -> {
                    try {
                        int n = buf.readableBytes();
                        if (out.size() + (long) n > MAX_BODY_BYTES) {
                            throw new HttpException(413, "body larger than " + MAX_BODY_BYTES + " bytes");
                        }
                        buf.readBytes(out, n);
                        return out;
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    } finally {
                        buf.release();
                    }
                })
                .map(java.io.ByteArrayOutputStream::toByteArray)
                .defaultIfEmpty(new byte[0])
                .onErrorMap(e -> !(e instanceof HttpException), e -> new HttpException(400, "cannot read the request body: " + e.getMessage()));
    }

    private Mono<HttpReply> dispatch(HttpServerRequest request, Target target, byte[] body) {
        String path = target.path();
        HttpRequest req = new HttpRequest(request.method().name(), path, target.query(), body);
        for (HttpEndpoint endpoint : endpoints) {
            if (path.startsWith(endpoint.prefix())) {
                return endpoint.handle(req);
            }
        }
        switch (path) {
            case "/", "/index.html" -> {
                req.only("GET");
                return Mono.just(new HttpReply(200, "text/html; charset=utf-8", dashboard));
            }
            case "/health/live" -> {
                req.only("GET");
                return Mono.just(HttpReply.json(200, Map.of("status", "UP")));
            }
            case "/health/ready" -> {
                req.only("GET");
                return service.notReady().map(problems -> problems.isEmpty()
                        ? HttpReply.json(200, Map.of("status", "UP"))
                        : HttpReply.json(503, Map.of("status", "DOWN", "problems", problems)));
            }
            case "/metrics" -> {
                req.only("GET");
                // Rendered off the event loop: the loop also answers registrations (POST /api/operations),
                // which would wait behind a scrape of every meter.
                return Mono.fromCallable(() -> new HttpReply(200, "text/plain; version=0.0.4; charset=utf-8",
                        prometheus.scrape().getBytes(StandardCharsets.UTF_8))).subscribeOn(Schedulers.boundedElastic());
            }
            case "/api/pipelines" -> {
                req.only("GET");
                return status().map(list -> HttpReply.json(200, Map.of("pipelines", list)));
            }
            case "/api/offsets" -> {
                req.only("GET");
                return service.offsets().map(m -> HttpReply.json(200, Map.of("offsets", m)));
            }
            case "/api/offsets/reset" -> {
                req.only("POST");
                JsonNode json = req.json();
                String origin = HttpRequest.text(json, "origin", true);
                String pipeline = HttpRequest.text(json, "pipeline", false);
                if (pipeline != null && service.supervisor(pipeline) == null) {
                    throw new HttpException(404, "no pipeline named '" + pipeline + "'");
                }
                return service.resetOffset(origin, pipeline).map(reset -> {
                    if (reset.isEmpty()) {
                        throw new HttpException(404, "no checkpoint of origin '" + origin + "'"
                                + (pipeline == null ? "" : " in pipeline " + pipeline));
                    }
                    return HttpReply.json(200, Map.of("origin", origin, "reset", reset));
                });
            }
            default -> {
                if (path.startsWith("/api/pipelines/")) {
                    req.only("GET");
                    String name = path.substring("/api/pipelines/".length());
                    return status().map(list -> list.stream()
                            .filter(p -> name.equals(p.name()))
                            .findFirst()
                            .map(p -> HttpReply.json(200, p))
                            .orElseThrow(() -> new HttpException(404, "no pipeline named '" + name + "'")));
                }
                throw new HttpException(404, "no such endpoint: " + path);
            }
        }
    }

    /**
     * Every pipeline's status, gathered off the event loop (as {@code /metrics} is rendered): the loop
     * also answers registrations, and the dashboard asks for this every second.
     */
    private Mono<List<PipelineReport>> status() {
        return Mono.defer(service::status).subscribeOn(Schedulers.boundedElastic());
    }

    private void authorize(HttpServerRequest request) {
        if (http.token() == null) {
            refused(request, "disabled");
            throw new HttpException(403, "mutating endpoints are disabled: set http.token in the configuration");
        }
        String header = request.requestHeaders().get("Authorization");
        if (header == null || !header.startsWith("Bearer ")) {
            refused(request, "missing");
            throw new HttpException(401, "missing 'Authorization: Bearer <token>' header");
        }
        byte[] given = header.substring("Bearer ".length()).trim().getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(given, http.token().getBytes(StandardCharsets.UTF_8))) {
            refused(request, "wrong");
            throw new HttpException(401, "wrong bearer token");
        }
    }

    /**
     * Counts a refused request ({@value #REFUSED} by {@code reason}) and logs it at WARN, at most once
     * per {@link #REFUSED_LOG_INTERVAL}, with how many were refused since the last line.
     */
    private void refused(HttpServerRequest request, String reason) {
        prometheus.counter(REFUSED, "reason", reason).increment();
        long unlogged = refusedSinceLog.incrementAndGet();
        long now = System.nanoTime();
        long last = lastRefusedLog.get();
        if (now - last >= REFUSED_LOG_INTERVAL.toNanos() && lastRefusedLog.compareAndSet(last, now)) {
            refusedSinceLog.addAndGet(-unlogged);
            java.net.SocketAddress from = request.remoteAddress();
            log.warn("http: refused {} {} from {} ({} token); {} refused since the last such line", request.method(),
                    request.path(), from, reason, unlogged);
        }
    }

    static HttpReply error(int status, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("error", message);
        m.put("status", status);
        return HttpReply.json(status, m);
    }

    private static Map<String, List<String>> query(String q) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        if (q.isEmpty()) {
            return out;
        }
        for (String part : q.split("&")) {
            int eq = part.indexOf('=');
            String k = HttpRequest.decode(eq < 0 ? part : part.substring(0, eq));
            String v = eq < 0 ? "" : HttpRequest.decode(part.substring(eq + 1));
            out.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return out;
    }

    /** Closes the endpoints (their connections), waiting 10 s at most; before the event loops go. */
    static void close(List<HttpEndpoint> endpoints) {
        reactor.core.publisher.Flux.fromIterable(endpoints)
                .concatMap(e -> e.close().onErrorResume(err -> Mono.empty()))
                .then()
                .timeout(java.time.Duration.ofSeconds(10), Mono.empty())
                .onErrorResume(e -> Mono.empty())
                .block();
    }

    private static byte[] resource(String name) {
        try (InputStream in = AdminServer.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read resource " + name, e);
        }
    }
}
