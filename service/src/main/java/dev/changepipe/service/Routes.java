package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.PipelineException;
import dev.changepipe.sink.redis.HotStorageLookup;
import dev.changepipe.sink.redis.RedisHotStorageSinkProvider;
import dev.changepipe.source.storage.Operation;
import dev.changepipe.source.storage.OperationsStorage;
import dev.changepipe.source.storage.StorageSyncSourceProvider;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import io.lettuce.core.RedisClient;
import io.lettuce.core.resource.ClientResources;
import io.netty.handler.codec.http.HttpMethod;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The connector-specific HTTP endpoints: {@code POST /api/operations} for every pipeline whose source
 * is {@code storage-sync}, and {@code GET /api/hot/<pipeline>/...} for every pipeline with a
 * {@code redis-hot-storage} sink. Each opens its Redis connection on first use, on the Lettuce
 * resources it is given (the server's event loops: {@link HttpEventLoops}); {@link #close()} closes
 * them.
 */
final class Routes implements AutoCloseable {

    private final Map<String, StorageSyncSourceProvider.Storage> storages = new LinkedHashMap<>();
    private final Map<String, RedisHotStorageSinkProvider.Target> hotStorages = new LinkedHashMap<>();
    private final Map<String, OperationsStorage> openStorages = new LinkedHashMap<>();
    private final Map<String, HotStorageLookup> openLookups = new LinkedHashMap<>();
    private final ClientResources redis;
    private RedisClient client;

    Routes(ReplicationService service, ClientResources redis) {
        this.redis = redis;
        for (ServiceConfig.PipelineConfig pc : service.config().pipelines()) {
            ServiceContext context = service.components().context(pc.name());
            Settings source = Components.section(pc.source());
            if (StorageSyncSourceProvider.TYPE.equals(source.string("type"))) {
                storages.put(pc.name(), StorageSyncSourceProvider.storage(source, context));
            }
            for (Settings raw : pc.sinks()) {
                Settings sink = Components.section(raw);
                if (RedisHotStorageSinkProvider.TYPE.equals(sink.string("type")) && !hotStorages.containsKey(pc.name())) {
                    hotStorages.put(pc.name(), RedisHotStorageSinkProvider.target(sink, context));
                }
            }
        }
    }

    /** The endpoints, for {@link AdminServer}. */
    List<AdminServer.Route> list() {
        return List.of(operations(), hot());
    }

    private synchronized OperationsStorage storage(String pipeline) {
        return openStorages.computeIfAbsent(pipeline, p -> storages.get(p).connect(redis));
    }

    private synchronized HotStorageLookup lookup(String pipeline) {
        if (client == null) {
            client = RedisClient.create(redis);
        }
        return openLookups.computeIfAbsent(pipeline, p -> RedisHotStorageSinkProvider.lookup(client, hotStorages.get(p)));
    }

    /**
     * {@code POST /api/operations} with {@code {"importKey": "app.model", "operation": "update",
     * "pks": ["1", 2], "dbAlias": "default", "pipeline": "..."}} ({@code dbAlias} defaults to
     * {@code default}; {@code pipeline} is needed only when several pipelines sync from a storage).
     * Answers {@code {"registered": n}}: how many were newly queued, once Redis holds them; 503 when
     * the storage failed (Redis unreachable, say), which the client retries.
     */
    AdminServer.Route operations() {
        return new AdminServer.Route() {
            @Override
            public String prefix() {
                return "/api/operations";
            }

            @Override
            public Mono<AdminServer.Reply> handle(HttpMethod method, String path, Map<String, List<String>> query, byte[] body) {
                if (!path.equals("/api/operations")) {
                    throw new AdminServer.HttpError(404, "no such endpoint: " + path);
                }
                if (!method.equals(HttpMethod.POST)) {
                    throw new AdminServer.HttpError(405, "method " + method + " not allowed here; expected POST");
                }
                if (storages.isEmpty()) {
                    throw new AdminServer.HttpError(404, "no pipeline syncs from an operations storage (source type "
                            + StorageSyncSourceProvider.TYPE + ")");
                }
                JsonNode json = AdminServer.parse(body);
                String pipeline = AdminServer.text(json, "pipeline", false);
                if (pipeline == null) {
                    if (storages.size() > 1) {
                        throw new AdminServer.HttpError(400, "field 'pipeline' is required: several pipelines sync from a storage: "
                                + String.join(", ", storages.keySet()));
                    }
                    pipeline = storages.keySet().iterator().next();
                } else if (!storages.containsKey(pipeline)) {
                    throw new AdminServer.HttpError(404, "pipeline '" + pipeline + "' does not sync from an operations storage");
                }
                String pipelineName = pipeline;
                String importKey = AdminServer.text(json, "importKey", true);
                if (!storages.get(pipeline).importKeys().contains(importKey)) {
                    throw new AdminServer.HttpError(400, "import key '" + importKey + "' is not configured in pipeline "
                            + pipeline + "; expected one of: " + String.join(", ", storages.get(pipeline).importKeys()));
                }
                Operation.Type type;
                try {
                    type = Operation.Type.fromWireName(AdminServer.text(json, "operation", true));
                } catch (IllegalArgumentException e) {
                    throw new AdminServer.HttpError(400, "field 'operation' must be insert, update or delete");
                }
                String alias = AdminServer.text(json, "dbAlias", false);
                try {
                    alias = Operation.checkAlias(alias == null ? Operation.DEFAULT_DB_ALIAS : alias);
                } catch (IllegalArgumentException e) {
                    throw new AdminServer.HttpError(400, "field 'dbAlias': " + e.getMessage());
                }
                JsonNode pks = json.get("pks");
                if (pks == null || !pks.isArray() || pks.isEmpty()) {
                    throw new AdminServer.HttpError(400, "field 'pks' is required: a non-empty list of primary keys");
                }
                List<String> keys = new ArrayList<>();
                for (JsonNode pk : pks) {
                    if (!(pk.isTextual() || pk.isIntegralNumber()) || pk.asText().isEmpty()) {
                        throw new AdminServer.HttpError(400, "field 'pks' must hold strings or integers, got " + pk);
                    }
                    keys.add(pk.asText());
                }
                return storage(pipeline).registerOperations(importKey, type, alias, keys)
                        .onErrorMap(PipelineException.class, e -> new AdminServer.HttpError(503,
                                "the operations storage of pipeline " + pipelineName + " failed (registering again is "
                                        + "harmless): " + e.getMessage()))
                        .map(n -> AdminServer.Reply.json(200, Map.of("registered", n)));
            }
        };
    }

    /**
     * {@code GET /api/hot/<pipeline>/<model>/<pk>}: the object by primary key;
     * {@code GET /api/hot/<pipeline>/<model>?field=value&...}: the object by unique fields (a superset
     * of a unique constraint is filtered in the application). 404 when there is none.
     */
    AdminServer.Route hot() {
        return new AdminServer.Route() {
            @Override
            public String prefix() {
                return "/api/hot/";
            }

            @Override
            public Mono<AdminServer.Reply> handle(HttpMethod method, String path, Map<String, List<String>> query, byte[] body) {
                AdminServer.only(method, HttpMethod.GET);
                String[] parts = path.substring("/api/hot/".length()).split("/", -1);
                if (parts.length < 2 || parts.length > 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
                    throw new AdminServer.HttpError(400, "expected /api/hot/<pipeline>/<model>/<pk> or /api/hot/<pipeline>/<model>?field=value");
                }
                String pipeline = decode(parts[0]);
                String model = decode(parts[1]);
                if (!hotStorages.containsKey(pipeline)) {
                    throw new AdminServer.HttpError(404, "pipeline '" + pipeline + "' has no redis-hot-storage sink");
                }
                Mono<dev.changepipe.sink.redis.StoredObject> found;
                String what;
                if (parts.length == 3 && !parts[2].isEmpty()) {
                    String pk = decode(parts[2]);
                    Object key = pk.matches("-?\\d{1,18}") ? (Object) Long.parseLong(pk) : pk;
                    found = lookup(pipeline).get(model, key);
                    what = model + " pk " + pk;
                } else {
                    if (query.isEmpty()) {
                        throw new AdminServer.HttpError(400, "expected a pk in the path or field=value query parameters");
                    }
                    Map<String, Object> fields = new LinkedHashMap<>();
                    query.forEach((k, v) -> {
                        String value = v.get(v.size() - 1);
                        fields.put(k, value.matches("-?\\d{1,18}") ? (Object) Long.parseLong(value) : value);
                    });
                    found = lookup(pipeline).find(model, fields);
                    what = model + " with " + fields;
                }
                return found
                        .onErrorMap(IllegalArgumentException.class, e -> new AdminServer.HttpError(400, e.getMessage()))
                        .map(o -> AdminServer.Reply.json(200, RedisHotStorageSinkProvider.json(o)))
                        .switchIfEmpty(Mono.error(() -> new AdminServer.HttpError(404, "no " + what)));
            }
        };
    }

    private static String decode(String s) {
        return AdminServer.decode(s);
    }

    /** Closes the connections, waiting a few seconds at most (the event loops they use go next). */
    @Override
    public synchronized void close() {
        Flux.concat(openStorages.values().stream().map(s -> s.close().onErrorResume(e -> Mono.empty())).toList())
                .thenMany(Flux.concat(openLookups.values().stream().map(l -> l.close().onErrorResume(e -> Mono.empty())).toList()))
                .then(client == null ? Mono.empty() : Mono.fromCompletionStage(client.shutdownAsync()).then())
                .timeout(Duration.ofSeconds(5), Mono.empty())
                .onErrorResume(e -> Mono.empty())
                .block();
    }
}
