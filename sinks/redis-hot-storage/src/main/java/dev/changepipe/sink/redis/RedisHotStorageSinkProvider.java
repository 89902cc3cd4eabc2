package dev.changepipe.sink.redis;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.OnBadRecord;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.resource.ClientResources;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * {@code type: redis-hot-storage}: the Redis hot storage sink (docs/redis-hot-storage.md). Keys:
 * {@code connection} (required; a name under {@code connections.redis}, which holds {@code uri}),
 * {@code keyPrefix}, {@code uniqueConstraints} (model: a list of constraints, each a field name or a
 * list of field names), {@code tombstoneTtl}, {@code pipelineSize}, {@code onBadRecord} ({@code dead-letter},
 * the default: refused items go to the pipeline's dead letters; {@code fail}). The sink owns its Redis
 * client and shuts it down when closed. A pipeline with this sink answers {@code GET /api/hot/<pipeline>/...}.
 */
public final class RedisHotStorageSinkProvider implements SinkProvider {

    /** The {@code type:} of this sink. */
    public static final String TYPE = "redis-hot-storage";

    @Override
    public String type() {
        return TYPE;
    }

    /** The Redis URI and options a section declares (the service's {@code /api/hot/} lookups read it). */
    public record Target(RedisURI uri, HotStorageOptions options) {
    }

    /**
     * {@code GET /api/hot/<pipeline>/...} lookups for every pipeline with a sink of this type (its first
     * one; see {@link HotStorageEndpoint}).
     */
    @Override
    public List<HttpEndpoint> endpoints(List<HttpEndpoint.Section> sections) {
        Map<String, Target> targets = new LinkedHashMap<>();
        for (HttpEndpoint.Section section : sections) {
            if (!targets.containsKey(section.pipeline())) {
                targets.put(section.pipeline(), target(section.settings(), section.context()));
            }
        }
        return List.of(new HotStorageEndpoint(targets,
                sections.get(0).context().shared(ClientResources.class).orElse(null)));
    }

    /** The target of a {@code redis-hot-storage} section; configuration errors name their path. */
    public static Target target(Settings s, ServiceContext context) {
        Settings c = context.connection(s, "connection", "redis");
        String uri = c.string("uri");
        c.checkNoUnknownKeys();
        RedisURI redisUri;
        try {
            redisUri = RedisURI.create(uri);
        } catch (RuntimeException e) {
            throw new ConfigException(c.pathOf("uri"), "expected a redis://host:port URI");
        }
        HotStorageOptions.Builder b = HotStorageOptions.builder()
                .sinkName(s.string("name", HotStorageOptions.DEFAULT_SINK_NAME))
                .keyPrefix(s.string("keyPrefix", HotStorageOptions.DEFAULT_KEY_PREFIX))
                .tombstoneTtl(s.duration("tombstoneTtl", HotStorageOptions.DEFAULT_TOMBSTONE_TTL))
                .pipelineSize(s.integer("pipelineSize", HotStorageOptions.DEFAULT_PIPELINE_SIZE, 1, 1_000_000))
                .onBadRecord(s.choice("onBadRecord", OnBadRecord.class, OnBadRecord.DEAD_LETTER))
                .deadLetters(context.deadLetters());
        var constraints = s.has("uniqueConstraints") ? s.child("uniqueConstraints") : null;
        if (constraints != null) {
            for (String model : constraints.keys()) {
                var node = constraints.node().get(model);
                String path = constraints.pathOf(model);
                if (!node.isArray()) {
                    throw new ConfigException(path, "expected a list of constraints (a field, or a list of fields)");
                }
                for (int i = 0; i < node.size(); i++) {
                    var e = node.get(i);
                    List<String> fields = new ArrayList<>();
                    if (e.isTextual()) {
                        fields.add(e.asText());
                    } else if (e.isArray() && e.size() > 0) {
                        e.forEach(f -> fields.add(f.asText()));
                    } else {
                        throw new ConfigException(path + "[" + i + "]", "expected a field name or a list of field names");
                    }
                    b.uniqueConstraint(model, UniqueConstraint.of(fields.toArray(String[]::new)));
                }
                constraints.markRead(model);
            }
        }
        s.checkNoUnknownKeys();
        return new Target(redisUri, s.build(b::build));
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        Target t = target(s, context);
        RedisClient client = RedisClient.create();
        Sink sink = RedisHotStorage.sink(client, t.uri(), t.options());
        context.readinessProbe("redis " + t.uri().getHost() + ":" + t.uri().getPort(), ping(client, t.uri()));
        return new Sink() {
            @Override
            public String name() {
                return sink.name();
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return sink.write(chunk);
            }

            @Override
            public Mono<Void> writeBatch(List<Chunk> batch) {
                return sink.writeBatch(batch);
            }

            @Override
            public int maxWritesInFlight() {
                return sink.maxWritesInFlight();
            }

            @Override
            public Mono<Void> close() {
                return sink.close().then(Mono.fromCompletionStage(client.shutdownAsync())).then();
            }
        };
    }

    /** A lookup on what a pipeline's hot storage section declares; the caller closes the client. */
    public static HotStorageLookup lookup(RedisClient client, Target target) {
        return RedisHotStorage.lookup(client, target.uri(), target.options());
    }

    static Mono<Void> ping(RedisClient client, RedisURI uri) {
        return Mono.usingWhen(Mono.fromCompletionStage(() -> client.connectAsync(StringCodec.UTF8, uri)),
                c -> Mono.fromCompletionStage(c.async().ping()).then(),
                c -> Mono.fromCompletionStage(c.closeAsync()));
    }

    /** A stored object as the lookups answer it in JSON. */
    public static Map<String, Object> json(StoredObject o) {
        return Map.of("model", o.model(), "key", o.key(), "version", o.version(), "fields", o.fields());
    }
}
