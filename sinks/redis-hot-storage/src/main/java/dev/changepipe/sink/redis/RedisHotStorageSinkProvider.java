package dev.changepipe.sink.redis;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * {@code type: redis-hot-storage}: the Redis hot storage sink (docs/redis-hot-storage.md); its keys are
 * {@link HotStorageConfig}'s. The sink owns its Redis client and shuts it down when closed. A pipeline
 * with this sink answers {@code GET /api/hot/<pipeline>/...}.
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
        HotStorageConfig c = s.bind(HotStorageConfig.class);
        String uri = context.connection(s.pathOf("connection"), c.connection(), HotStorageConfig.Redis.class).uri();
        RedisURI redisUri;
        try {
            redisUri = RedisURI.create(uri);
        } catch (RuntimeException e) {
            throw new ConfigException("connections.redis." + c.connection() + ".uri", "expected a redis://host:port URI");
        }
        HotStorageOptions.Builder b = HotStorageOptions.builder()
                .sinkName(c.name())
                .keyPrefix(c.keyPrefix())
                .tombstoneTtl(c.tombstoneTtl())
                .pipelineSize(c.pipelineSize())
                .onBadRecord(c.onBadRecord())
                .deadLetters(context.deadLetters());
        c.uniqueConstraints().forEach((model, constraints) -> {
            for (int i = 0; constraints != null && i < constraints.size(); i++) {
                List<String> fields = constraints.get(i);
                if (fields == null || fields.isEmpty()) {
                    throw new ConfigException(s.pathOf("uniqueConstraints") + "." + model + "[" + i + "]",
                            "expected a field name or a list of field names");
                }
                b.uniqueConstraint(model, UniqueConstraint.of(fields.toArray(String[]::new)));
            }
        });
        return new Target(redisUri, s.build(b::build));
    }

    @Override
    public Class<HotStorageConfig> options() {
        return HotStorageConfig.class;
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        Target t = target(s, context);
        RedisClient client = RedisClient.create();
        context.readinessProbe("redis " + t.uri().getHost() + ":" + t.uri().getPort(), ping(client, t.uri()));
        // the sink shuts the client down when it closes
        return new RedisHotStorageSink(client, t.uri(), t.options(), true);
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
