package dev.changepipe.sink.redis;

import dev.changepipe.core.Sink;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;

/**
 * The Redis hot storage: keeps the latest version of every object in Redis by primary key and by
 * its unique fields (docs/redis-hot-storage.md has the layout and the guarantees).
 *
 * <pre>{@code
 * RedisClient client = RedisClient.create();
 * RedisURI uri = RedisURI.create("redis://127.0.0.1:6379");
 * HotStorageOptions options = HotStorageOptions.builder()
 *         .uniqueConstraint("polls.choice", "question", "position")
 *         .uniqueConstraint("auth.user", "username")
 *         .build();
 * Sink sink = RedisHotStorage.sink(client, uri, options);            // into a Pipeline
 * HotStorageLookup lookup = RedisHotStorage.lookup(client, uri, options);
 * lookup.getByUnique("auth.user", Map.of("username", "ada")).subscribe(...);
 * }</pre>
 *
 * <p>The caller owns the {@link RedisClient} (and shuts it down); the sink and each lookup open
 * connections of their own, closed by their {@code close()}.
 */
public final class RedisHotStorage {

    private RedisHotStorage() {
    }

    /**
     * A sink that applies every item of a chunk to the hot storage, each object's change atomically
     * and version-checked, pipelined in item order. Completes when Redis has applied every item
     * (durable as far as the Redis server's persistence settings make it). Errors are
     * {@link dev.changepipe.core.SinkException}s: retryable for connection faults and timeouts,
     * permanent for a value that cannot be stored or a key that holds something else (those items
     * become dead letters instead when {@link HotStorageOptions#deadLetters()} is set).
     */
    public static Sink sink(RedisClient client, RedisURI uri, HotStorageOptions options) {
        return new RedisHotStorageSink(client, uri, options);
    }

    /** Lookups over the objects a sink with the same options wrote. */
    public static HotStorageLookup lookup(RedisClient client, RedisURI uri, HotStorageOptions options) {
        return new RedisHotStorageLookup(client, uri, options);
    }
}
