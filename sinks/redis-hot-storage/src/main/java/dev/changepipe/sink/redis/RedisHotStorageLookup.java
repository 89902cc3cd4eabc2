package dev.changepipe.sink.redis;

import dev.changepipe.core.PipelineException;
import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** {@link HotStorageLookup} over one Lettuce connection of its own (multiplexed, auto-flushed). */
final class RedisHotStorageLookup implements HotStorageLookup {

    private final RedisClient client;
    private final RedisURI uri;
    private final HotStorageOptions options;
    private final KeyLayout layout;
    private final ObjectCodec codec = new ObjectCodec();
    private final AtomicReference<StatefulRedisConnection<String, String>> open = new AtomicReference<>();

    RedisHotStorageLookup(RedisClient client, RedisURI uri, HotStorageOptions options) {
        this.client = Objects.requireNonNull(client, "client");
        this.uri = Objects.requireNonNull(uri, "uri");
        this.options = Objects.requireNonNull(options, "options");
        this.layout = new KeyLayout(options);
    }

    @Override
    public Mono<StoredObject> get(String model, Object pk) {
        return Mono.defer(() -> {
            String key = layout.objectKey(model, KeyLayout.pkPartOf(pk));
            return connection().flatMap(c -> c.reactive().get(key))
                    .map(json -> decode(model, key, json));
        }).onErrorMap(this::lookupError);
    }

    @Override
    public Flux<StoredObject> getAll(String model, Collection<?> pks) {
        return Flux.defer(() -> {
            List<String> keys = new ArrayList<>(pks.size());
            for (Object pk : pks) {
                keys.add(layout.objectKey(model, KeyLayout.pkPartOf(pk)));
            }
            if (keys.isEmpty()) {
                return Flux.empty();
            }
            return connection().flatMapMany(c -> Flux.fromIterable(keys)
                    .buffer(options.pipelineSize())
                    .concatMap(group -> c.reactive().mget(group.toArray(String[]::new))))
                    .filter(KeyValue::hasValue)
                    .map(kv -> decode(model, kv.getKey(), kv.getValue()));
        }).onErrorMap(this::lookupError);
    }

    @Override
    public Mono<StoredObject> getByUnique(String model, Map<String, ?> fields) {
        return Mono.defer(() -> {
            if (fields.isEmpty()) {
                return Mono.error(new IllegalArgumentException("getByUnique of " + model + ": no fields given"));
            }
            UniqueConstraint constraint = new UniqueConstraint(new ArrayList<>(fields.keySet()));
            return byConstraint(model, constraint, fields);
        }).onErrorMap(this::lookupError);
    }

    @Override
    public Mono<StoredObject> find(String model, Map<String, ?> fields) {
        return Mono.defer(() -> {
            for (UniqueConstraint constraint : options.constraintsOf(model)) {
                if (fields.keySet().containsAll(constraint.fields())) {
                    return byConstraint(model, constraint, fields);
                }
            }
            return Mono.error(new IllegalArgumentException("find on " + model + " by " + fields.keySet()
                    + ": the fields include no unique constraint declared for the model "
                    + options.constraintsOf(model)));
        }).onErrorMap(this::lookupError);
    }

    /** Reads the index of {@code constraint}, then the object, and checks every field of {@code fields}. */
    private Mono<StoredObject> byConstraint(String model, UniqueConstraint constraint, Map<String, ?> fields) {
        String indexKey = layout.uniqueKey(model, constraint, fields);
        if (indexKey == null) {
            return Mono.empty();  // a null value: never indexed, matches nothing
        }
        Map<String, Object> wanted = new LinkedHashMap<>(fields);
        return connection().flatMap(c -> c.reactive().get(indexKey)
                .flatMap(pk -> {
                    String objectKey = layout.objectKey(model, pk);
                    return c.reactive().get(objectKey).map(json -> decode(model, objectKey, json));
                }))
                .filter(object -> matches(object, wanted));
    }

    private static boolean matches(StoredObject object, Map<String, Object> wanted) {
        for (Map.Entry<String, Object> e : wanted.entrySet()) {
            if (!object.fields().containsKey(e.getKey()) || !sameValue(object.fields().get(e.getKey()), e.getValue())) {
                return false;
            }
        }
        return true;
    }

    /** Equal by canonical key text for scalars (so 5, 5L and 5.0 match), by {@code equals} otherwise. */
    static boolean sameValue(Object stored, Object wanted) {
        if (stored == null || wanted == null) {
            return stored == wanted;
        }
        try {
            return KeyLayout.render(stored, "").equals(KeyLayout.render(wanted, ""));
        } catch (IllegalArgumentException notScalar) {
            return Objects.equals(stored, wanted);
        }
    }

    private StoredObject decode(String model, String key, String json) {
        try {
            return codec.decode(model, json);
        } catch (Exception e) {
            throw new PipelineException("hot storage key " + key + " does not hold a readable object: " + e.getMessage(), e);
        }
    }

    private Throwable lookupError(Throwable error) {
        Throwable e = RedisErrors.unwrap(error);
        if (e instanceof PipelineException || e instanceof IllegalArgumentException || e instanceof NullPointerException) {
            return e;
        }
        return new PipelineException("hot storage lookup failed: " + e.getMessage(), e, RedisErrors.isRetryable(e));
    }

    private Mono<StatefulRedisConnection<String, String>> connection() {
        return Mono.defer(() -> {
            StatefulRedisConnection<String, String> current = open.get();
            if (current != null) {
                return Mono.just(current);
            }
            return Mono.fromCompletionStage(client.connectAsync(StringCodec.UTF8, uri)).flatMap(fresh -> {
                if (open.compareAndSet(null, fresh)) {
                    return Mono.just(fresh);
                }
                return Mono.fromCompletionStage(fresh.closeAsync()).then(connection());
            });
        });
    }

    @Override
    public Mono<Void> close() {
        return Mono.defer(() -> {
            StatefulRedisConnection<String, String> c = open.getAndSet(null);
            return c == null ? Mono.empty() : Mono.fromCompletionStage(c.closeAsync());
        });
    }
}
