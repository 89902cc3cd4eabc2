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
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.http.server.HttpServerRoutes;

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
    /** Decodes a request's URI: its raw path, and its query, in which {@code ;} separates nothing. */
    private static final QueryStringDecoder.Builder QUERY = QueryStringDecoder.builder().semicolonIsNormalChar(true);
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
                .route(this::routes)
                .bind()
                .<DisposableServer>map(s -> s)
                .doOnNext(s -> log.info("http: listening on {}:{}", http.host(), s.port()));
    }

    /**
     * The routes, tried in this order; each answers through {@link #serve}. The connectors' endpoints
     * come first, as their prefixes may lie under another route's path.
     */
    private void routes(HttpServerRoutes routes) {
        for (HttpEndpoint endpoint : endpoints) {
            // A prefix, not a template: the router's templates match whole paths.
            routes.route(request -> target(request).rawPath().startsWith(endpoint.prefix()),
                    serve(endpoint::mutating, (request, read) -> endpoint.handle(read)));
        }
        Map<Pattern, String> methods = new LinkedHashMap<>();
        get(routes, methods, "/", (request, read) -> Mono.just(dashboard()));
        get(routes, methods, "/index.html", (request, read) -> Mono.just(dashboard()));
        get(routes, methods, "/health/live", (request, read) -> Mono.just(HttpReply.json(200, Map.of("status", "UP"))));
        get(routes, methods, "/health/ready", (request, read) -> service.notReady().map(problems -> problems.isEmpty()
                ? HttpReply.json(200, Map.of("status", "UP"))
                : HttpReply.json(503, Map.of("status", "DOWN", "problems", problems))));
        // Rendered off the event loop: the loop also answers registrations (POST /api/operations), which
        // would wait behind a scrape of every meter.
        get(routes, methods, "/metrics", (request, read) -> Mono.fromCallable(() -> new HttpReply(200,
                "text/plain; version=0.0.4; charset=utf-8", prometheus.scrape().getBytes(StandardCharsets.UTF_8)))
                .subscribeOn(Schedulers.boundedElastic()));
        get(routes, methods, "/api/pipelines", (request, read) -> status()
                .map(list -> HttpReply.json(200, Map.of("pipelines", list))));
        get(routes, methods, "/api/pipelines/{name}", (request, read) -> pipeline(request.param("name")));
        get(routes, methods, "/api/offsets", (request, read) -> service.offsets()
                .map(offsets -> HttpReply.json(200, Map.of("offsets", offsets))));
        get(routes, methods, "/api/cluster", (request, read) -> service.cluster()
                .map(cluster -> HttpReply.json(200, cluster))
                .defaultIfEmpty(HttpReply.json(200, Map.of("instance", "", "instances", List.of(),
                        "note", "this instance runs alone: no instances: section (docs/deployment.md)")))
                .onErrorResume(e -> Mono.just(HttpReply.json(503, Map.of("error", "instances: Redis did not answer: "
                        + e.getMessage())))));
        post(routes, methods, "/api/offsets/reset", (request, read) -> resetOffset(read));
        post(routes, methods, "/api/pipelines/{name}/pause", (request, read) -> pause(request.param("name"), true));
        post(routes, methods, "/api/pipelines/{name}/resume", (request, read) -> pause(request.param("name"), false));
        post(routes, methods, "/api/pipelines/{name}/resync", (request, read) -> resync(request.param("name"), read));
        post(routes, methods, "/api/pipelines/{name}/verify", (request, read) -> verify(request.param("name"), read));
        // The router answers a request no route takes with an empty 404; this last route answers it instead.
        routes.route(request -> true, serve(method -> false, (request, read) -> unrouted(methods, read)));
    }

    /**
     * Routes {@code GET} and {@code HEAD} of {@code template} to {@code answer}, and notes the path's
     * method in {@code methods}: the router matches one method per route, and {@code HEAD} is answered
     * wherever {@code GET} is ({@link #send} leaves out the body).
     */
    private void get(HttpServerRoutes routes, Map<Pattern, String> methods, String template, Answer answer) {
        var handler = serve(method -> false, answer);
        routes.get(template, handler).head(template, handler);
        methods.put(template(template), "GET");
    }

    /** Routes {@code POST} of {@code template}, which needs the token, to {@code answer}; notes the method. */
    private void post(HttpServerRoutes routes, Map<Pattern, String> methods, String template, Answer answer) {
        routes.post(template, serve(method -> true, answer));
        methods.put(template(template), "POST");
    }

    /**
     * A path template as the router reads it: a regular expression in which {@code {name}} is one path
     * segment, possibly empty.
     */
    private static Pattern template(String template) {
        return Pattern.compile(template.replaceAll("\\{[^/]+?}", "[^/]*"));
    }

    /**
     * What no route took: a 405 for a path routed with another method ({@code methods}: the method of
     * each routed template), else a 404. This piece is ours, not the router's, because the router tries
     * a path and a method together: it cannot tell a wrong method from an unknown path.
     */
    private static Mono<HttpReply> unrouted(Map<Pattern, String> methods, HttpRequest request) {
        for (Map.Entry<Pattern, String> route : methods.entrySet()) {
            if (route.getKey().matcher(request.path()).matches()) {
                request.only(route.getValue());
                // The method fits and the router still passed: its templates end the path at the last
                // '?' of the URI, not the first, so a '?' within the query hides the path from them.
                throw new HttpException(400, "a '?' within the query must be percent-encoded (%3F)");
            }
        }
        throw new HttpException(404, "no such endpoint: " + request.path());
    }

    /** What a route answers, given the request (its path parameters) and the request as read. */
    @FunctionalInterface
    private interface Answer {
        Mono<HttpReply> answer(HttpServerRequest request, HttpRequest read);
    }

    /**
     * A route's handler. Everything that can refuse a request does so before its body is read: a
     * malformed query (400), a missing or wrong token where {@code needsToken} says the method needs
     * one (401, 403), a body over the limit (413). Then the body is read and {@code answer} answers;
     * its reply, or the error, is sent ({@link #send}).
     */
    private BiFunction<HttpServerRequest, HttpServerResponse, Publisher<Void>> serve(Predicate<String> needsToken,
            Answer answer) {
        return (request, response) -> Mono.defer(() -> {
            QueryStringDecoder target = target(request);
            Map<String, List<String>> query = query(target);
            if (needsToken.test(request.method().name())) {
                authorize(request);
            }
            if (contentLength(request) > MAX_BODY_BYTES) {
                throw new HttpException(413, "body larger than " + MAX_BODY_BYTES + " bytes");
            }
            return body(request).flatMap(body -> answer.answer(request,
                    new HttpRequest(request.method().name(), target.rawPath(), query, body)));
        })
                .onErrorResume(HttpException.class, e -> Mono.just(error(e.status(), e.getMessage())))
                .onErrorResume(e -> {
                    log.error("http: {} {} failed: {}", request.method(), request.path(), e.toString());
                    return Mono.just(error(500, "internal error: " + e.getMessage()));
                })
                .flatMap(reply -> send(request, response, reply));
    }

    private static Mono<Void> send(HttpServerRequest request, HttpServerResponse response, HttpReply reply) {
        response.status(reply.status())
                .header("Content-Type", reply.contentType())
                .header("Cache-Control", "no-store");
        if (reply.status() == 413 || reply.status() == 401 || reply.status() == 403) {
            // the body was not read: do not keep the connection for a next request
            response.keepAlive(false);
        }
        if (request.method().equals(HttpMethod.HEAD)) {
            response.header("Content-Length", Integer.toString(reply.body().length));
            return response.send().then();
        }
        return response.sendByteArray(Mono.just(reply.body())).then();
    }

    /** A request's URI, read by Netty: its path (still percent-encoded) and its query. */
    private static QueryStringDecoder target(HttpServerRequest request) {
        return QUERY.build(request.uri());
    }

    /** The decoded query; 400 when its percent-encoding is malformed. */
    private static Map<String, List<String>> query(QueryStringDecoder target) {
        try {
            return target.parameters();
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "malformed percent-encoding in '" + target.rawQuery() + "': " + e.getMessage());
        }
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

    private HttpReply dashboard() {
        return new HttpReply(200, "text/html; charset=utf-8", dashboard);
    }

    private Mono<HttpReply> pipeline(String name) {
        return status().map(list -> list.stream()
                .filter(p -> p.name().equals(name))
                .findFirst()
                .map(p -> HttpReply.json(200, p))
                .orElseThrow(() -> new HttpException(404, "no pipeline named '" + name + "'")));
    }

    /**
     * Pauses a pipeline (stops it as SIGTERM would: it drains and records its progress, and stays stopped) or
     * resumes it (runs it again from there); answers once done, with its state.
     */
    private Mono<HttpReply> pause(String name, boolean pause) {
        PipelineSupervisor supervisor = supervisor(name);
        return (pause ? service.pause(supervisor) : service.resume(supervisor))
                .then(Mono.fromCallable(() -> HttpReply.json(200, Map.of("pipeline", name,
                        "state", supervisor.state().name()))));
    }

    /**
     * Copies one part of a running pipeline's source again ({@code {"part": "public.orders"}}), while the
     * rest goes on; answers 202 once the copy started (its progress is the part's line in {@code sourceParts}).
     */
    private Mono<HttpReply> resync(String name, HttpRequest request) {
        dev.changepipe.spi.SourceResync resync = runningSource(name, dev.changepipe.spi.SourceResync.class,
                "cannot copy a part again");
        String part = HttpRequest.text(request.json(), "part", true);
        return resync.resync(part)
                .onErrorMap(IllegalArgumentException.class, e -> new HttpException(404, e.getMessage()))
                .onErrorMap(IllegalStateException.class, e -> new HttpException(409, e.getMessage()))
                .then(Mono.fromCallable(() -> HttpReply.json(202, Map.of("pipeline", name, "part", part,
                        "state", "resyncing"))));
    }

    /**
     * Compares a running pipeline's source tables with its sinks now (docs/verify.md) and answers with the
     * result once done: {@code {"pipeline", "equal", "tables": {"verify Order against sink clickhouse":
     * "equal, 3,000 rows (12:00:03)"}, "report": "..."}}. The body may name one table ({@code "table"}) and
     * ask for the keys that differ to be written again ({@code "repair": true}).
     */
    private Mono<HttpReply> verify(String name, HttpRequest request) {
        dev.changepipe.spi.SourceVerify verify = runningSource(name, dev.changepipe.spi.SourceVerify.class,
                "cannot be verified (storage-sync, postgres-cdc and oplog-file can)");
        com.fasterxml.jackson.databind.JsonNode json = request.body().length == 0 ? null : request.json();
        String table = json == null ? null : HttpRequest.text(json, "table", false);
        boolean repair = json != null && json.path("repair").asBoolean(false);
        return verify.verify(table, repair)
                .onErrorMap(IllegalArgumentException.class, e -> new HttpException(404, e.getMessage()))
                .onErrorMap(IllegalStateException.class, e -> new HttpException(409, e.getMessage()))
                .map(result -> {
                    Map<String, Object> body = new java.util.LinkedHashMap<>();
                    body.put("pipeline", name);
                    body.put("equal", result.equal());
                    body.put("tables", result.tables());
                    body.put("report", result.report());
                    return HttpReply.json(200, body);
                });
    }

    /** The pipeline of that name; 404 when there is none. */
    private PipelineSupervisor supervisor(String name) {
        PipelineSupervisor supervisor = service.supervisor(name);
        if (supervisor == null) {
            throw new HttpException(404, "no pipeline named '" + name + "'");
        }
        return supervisor;
    }

    /**
     * The running source of the pipeline as a {@code capability}: 404 when there is no such pipeline, 409
     * when it does not run or its source {@code cannot} (the message's end).
     */
    private <T> T runningSource(String name, Class<T> capability, String cannot) {
        PipelineSupervisor supervisor = supervisor(name);
        dev.changepipe.core.Source source = supervisor.runningSource();
        if (source == null) {
            throw new HttpException(409, "pipeline " + name + " is not running (" + supervisor.state() + ")");
        }
        if (!capability.isInstance(source)) {
            throw new HttpException(409, "the source of pipeline " + name + " " + cannot);
        }
        return capability.cast(source);
    }

    private Mono<HttpReply> resetOffset(HttpRequest request) {
        JsonNode json = request.json();
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
