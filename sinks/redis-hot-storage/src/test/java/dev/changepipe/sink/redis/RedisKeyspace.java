package dev.changepipe.sink.redis;

import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;

/** Test helper: what a test's keys (under a prefix of its own) hold, read with SCAN. */
final class RedisKeyspace implements AutoCloseable {

    private final StatefulRedisConnection<String, String> connection;
    final RedisCommands<String, String> redis;

    RedisKeyspace(RedisClient client, RedisURI uri) {
        this.connection = client.connect(uri);
        this.redis = connection.sync();
    }

    /** A key prefix no other test uses (the server is shared: never flush it). */
    static String uniquePrefix() {
        return "t" + UUID.randomUUID().toString().replace("-", "").substring(0, 12) + ":";
    }

    /** Every key under the prefix, sorted. */
    List<String> keys(String prefix) {
        List<String> keys = new ArrayList<>();
        ScanCursor cursor = ScanCursor.INITIAL;
        do {
            KeyScanCursor<String> page = redis.scan(cursor, ScanArgs.Builder.matches(prefix + "*").limit(1000));
            keys.addAll(page.getKeys());
            cursor = page;
        } while (!cursor.isFinished());
        keys.sort(null);
        return keys;
    }

    /** Every key under the prefix with what it holds (string value, or sorted set members). */
    Map<String, String> snapshot(String prefix) {
        Map<String, String> snapshot = new TreeMap<>();
        for (String key : keys(prefix)) {
            String type = redis.type(key);
            switch (type) {
                case "string" -> snapshot.put(key, redis.get(key));
                case "set" -> snapshot.put(key, new TreeSet<>(redis.smembers(key)).toString());
                default -> snapshot.put(key, type);
            }
        }
        return snapshot;
    }

    @Override
    public void close() {
        connection.close();
    }
}
