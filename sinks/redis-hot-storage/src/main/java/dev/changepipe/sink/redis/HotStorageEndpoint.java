package dev.changepipe.sink.redis;

import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.HttpException;
import dev.changepipe.spi.HttpReply;
import dev.changepipe.spi.HttpRequest;
import io.lettuce.core.RedisClient;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code GET /api/hot/<pipeline>/<model>/<pk>}: the object by primary key;
 * {@code GET /api/hot/<pipeline>/<model>?field=value&...}: the object by unique fields (a superset of a
 * unique constraint is filtered in the application). 404 when there is none. Each pipeline's lookup is
 * opened on first use, on the resources the service shares (the HTTP server's event loops), and closed
 * with the endpoint.
 */
final class HotStorageEndpoint implements HttpEndpoint {

    private static final String PREFIX = "/api/hot/";

    private final Map<String, RedisHotStorageSinkProvider.Target> targets;
    private final Map<String, HotStorageLookup> open = new LinkedHashMap<>();
    private final ClientResources resources;
    private RedisClient client;

    HotStorageEndpoint(Map<String, RedisHotStorageSinkProvider.Target> targets, ClientResources resources) {
        this.targets = Map.copyOf(targets);
        this.resources = resources;
    }

    @Override
    public String prefix() {
        return PREFIX;
    }

    private synchronized HotStorageLookup lookup(String pipeline) {
        if (client == null) {
            client = resources == null ? RedisClient.create() : RedisClient.create(resources);
        }
        return open.computeIfAbsent(pipeline, p -> RedisHotStorageSinkProvider.lookup(client, targets.get(p)));
    }

    @Override
    public Mono<HttpReply> handle(HttpRequest request) {
        request.only("GET");
        String[] parts = request.path().substring(PREFIX.length()).split("/", -1);
        if (parts.length < 2 || parts.length > 3 || parts[0].isEmpty() || parts[1].isEmpty()) {
            throw new HttpException(400, "expected /api/hot/<pipeline>/<model>/<pk> or /api/hot/<pipeline>/<model>?field=value");
        }
        String pipeline = HttpRequest.decode(parts[0]);
        String model = HttpRequest.decode(parts[1]);
        if (!targets.containsKey(pipeline)) {
            throw new HttpException(404, "pipeline '" + pipeline + "' has no redis-hot-storage sink");
        }
        Mono<StoredObject> found;
        String what;
        if (parts.length == 3 && !parts[2].isEmpty()) {
            String pk = HttpRequest.decode(parts[2]);
            Object key = pk.matches("-?\\d{1,18}") ? (Object) Long.parseLong(pk) : pk;
            found = lookup(pipeline).get(model, key);
            what = model + " pk " + pk;
        } else {
            if (request.query().isEmpty()) {
                throw new HttpException(400, "expected a pk in the path or field=value query parameters");
            }
            Map<String, Object> fields = new LinkedHashMap<>();
            request.query().forEach((k, v) -> {
                String value = v.get(v.size() - 1);
                fields.put(k, value.matches("-?\\d{1,18}") ? (Object) Long.parseLong(value) : value);
            });
            found = lookup(pipeline).find(model, fields);
            what = model + " with " + fields;
        }
        return found
                .onErrorMap(IllegalArgumentException.class, e -> new HttpException(400, e.getMessage()))
                .map(o -> HttpReply.json(200, RedisHotStorageSinkProvider.json(o)))
                .switchIfEmpty(Mono.error(() -> new HttpException(404, "no " + what)));
    }

    /** Closes the lookups and the client, waiting a few seconds at most (the event loops they use go next). */
    @Override
    public synchronized Mono<Void> close() {
        List<Mono<Void>> closes = open.values().stream().map(l -> l.close().onErrorResume(e -> Mono.empty())).toList();
        RedisClient c = client;
        return Flux.concat(closes)
                .then(c == null ? Mono.empty() : Mono.fromCompletionStage(c.shutdownAsync()).then())
                .timeout(Duration.ofSeconds(5), Mono.empty())
                .onErrorResume(e -> Mono.empty());
    }
}
