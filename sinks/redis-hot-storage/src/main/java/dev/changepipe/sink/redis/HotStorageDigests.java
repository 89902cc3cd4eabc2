package dev.changepipe.sink.redis;

import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ValueScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The hot storage as a verify target ({@link TableDigest}, docs/verify.md): a model's objects (its
 * {@code all} set, then the objects in batches) read and digested here, in the canonical form, from the
 * values the sink stored; the source's columns decide how each is compared ({@link
 * TableDigest.Target#sourceKinds}). Redis computes nothing: the cost is reading every object once per
 * digest. Each call opens a connection of its own and closes it; nothing is written.
 */
final class HotStorageDigests {

    private static final int BATCH = 1000;

    private final RedisClient client;
    private final RedisURI uri;
    private final KeyLayout layout;
    private final ObjectCodec codec = new ObjectCodec();

    HotStorageDigests(RedisClient client, RedisURI uri, KeyLayout layout) {
        this.client = client;
        this.uri = uri;
        this.layout = layout;
    }

    /** The model's objects, compared by the source's columns; empty when it has none. */
    Mono<TableDigest.Target> target(String model) {
        return read(c -> c.exists(layout.allKey(model)) == 0 ? null
                : new TableDigest.Target(layout.pkKeyPrefix(model) + "*", "hot storage", Map.of(), Map.of(), null, true));
    }

    Mono<Map<Integer, Digest>> buckets(String model, Shape shape) {
        return read(c -> {
            Map<Integer, long[]> sums = new HashMap<>();
            each(c, model, o -> {
                long[] s = sums.computeIfAbsent(Digest.bucket(shape, keyText(shape, o)), b -> new long[2]);
                s[0]++;
                s[1] += Digest.hash(rowText(shape, o));
            });
            Map<Integer, Digest> out = new LinkedHashMap<>();
            sums.forEach((b, s) -> out.put(b, Digest.of(s[0], s[1])));
            return out;
        });
    }

    Mono<Map<String, Long>> hashes(String model, Shape shape, Set<Integer> buckets) {
        return read(c -> {
            Map<String, Long> out = new HashMap<>();
            each(c, model, o -> {
                String key = keyText(shape, o);
                if (buckets.contains(Digest.bucket(shape, key))) {
                    out.put(key, Digest.hash(rowText(shape, o)));
                }
            });
            return out;
        });
    }

    Mono<Map<String, String>> rows(String model, Shape shape, Collection<String> keys) {
        return read(c -> {
            Map<String, String> out = new HashMap<>();
            List<String> all = List.copyOf(keys);
            for (int i = 0; i < all.size(); i += BATCH) {
                List<String> part = all.subList(i, Math.min(all.size(), i + BATCH));
                for (StoredObject o : objects(c, model, part.stream().map(k -> pkPart(shape, k)).toList())) {
                    out.put(keyText(shape, o), rowText(shape, o));
                }
            }
            return out;
        });
    }

    /** Every object of the model, in batches of its {@code all} set. */
    private void each(RedisCommands<String, String> c, String model, Consumer<StoredObject> visit) {
        ValueScanCursor<String> cursor = c.sscan(layout.allKey(model), ScanArgs.Builder.limit(BATCH));
        while (true) {
            objects(c, model, cursor.getValues()).forEach(visit);
            if (cursor.isFinished()) {
                return;
            }
            cursor = c.sscan(layout.allKey(model), cursor, ScanArgs.Builder.limit(BATCH));
        }
    }

    private List<StoredObject> objects(RedisCommands<String, String> c, String model, List<String> pkParts) {
        if (pkParts.isEmpty()) {
            return List.of();
        }
        List<StoredObject> out = new ArrayList<>(pkParts.size());
        for (KeyValue<String, String> kv : c.mget(pkParts.stream().map(pk -> layout.objectKey(model, pk))
                .toArray(String[]::new))) {
            if (kv.hasValue()) {
                try {
                    out.add(codec.decode(model, kv.getValue()));
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalStateException(kv.getKey() + " is not a hot storage object: " + e.getMessage(), e);
                }
            }
        }
        return out;
    }

    private <T> Mono<T> read(Function<RedisCommands<String, String>, T> work) {
        return Mono.fromCallable(() -> {
            try (StatefulRedisConnection<String, String> c = client.connect(StringCodec.UTF8, uri)) {
                return work.apply(c.sync());
            }
        }).subscribeOn(Schedulers.boundedElastic());
    }

    private static Object value(StoredObject o, String column) {
        return o.fields().containsKey(column) ? o.fields().get(column) : o.key().get(column);
    }

    /** The object's key as a key of the model: its text, or its columns' texts (a composite key). */
    private static String pkPart(Shape shape, String keyText) {
        if (shape.keys().size() == 1) {
            return KeyLayout.escape(keyText);
        }
        String[] texts = keyText.split(Shape.KEY_SEPARATOR, -1);
        Map<String, Object> key = new LinkedHashMap<>();
        for (int i = 0; i < shape.keys().size() && i < texts.length; i++) {
            key.put(shape.keys().get(i).name(), texts[i]);
        }
        return KeyLayout.pkPart(key);
    }

    private static String keyText(Shape shape, StoredObject o) {
        List<String> texts = new ArrayList<>(shape.keys().size());
        for (Column k : shape.keys()) {
            texts.add(text(k, value(o, k.name())));
        }
        return Shape.keyText(texts);
    }

    private static String rowText(Shape shape, StoredObject o) {
        List<String> texts = new ArrayList<>(shape.columns().size());
        for (Column c : shape.columns()) {
            texts.add(text(c, value(o, c.name())));
        }
        return String.join(Shape.KEY_SEPARATOR, texts);
    }

    /**
     * A stored value in the canonical form of its column's kind (TableDigest): the value as the source
     * handed it (JSON's types: {@code Long}, {@code BigDecimal}, {@code String}, {@code Boolean}), times
     * and dates as their ISO-8601 text, bytes as base64. A value that does not read as its kind is
     * compared as its text, and so differs.
     */
    static String text(Column c, Object v) {
        if (c.kind() == TableDigest.Kind.BYTES && v instanceof String base64) {
            try {
                return HexFormat.of().formatHex(Base64.getDecoder().decode(base64));
            } catch (IllegalArgumentException e) {
                return base64;
            }
        }
        return TableDigest.canonical(c, v);
    }
}
