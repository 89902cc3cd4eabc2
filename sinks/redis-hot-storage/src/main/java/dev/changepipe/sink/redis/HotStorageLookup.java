package dev.changepipe.sink.redis;

import java.util.Collection;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Reads objects from the hot storage without touching the database. Get one from
 * {@link RedisHotStorage#lookup}.
 *
 * <p><b>Values in queries.</b> Primary keys and field values are compared by the canonical text they
 * have in keys: {@code 5} (a {@code Long} or an {@code Integer}), {@code 5.0} (a {@code BigDecimal})
 * and {@code "5"} all name the same index entry. A composite primary key is given as a map of its
 * columns. A {@code null} field value matches nothing (nulls are never indexed, as in SQL).
 *
 * <p><b>Consistency.</b> Every object read is a whole version written atomically by the sink. A
 * lookup by unique fields reads the index, then the object (two round trips); an object that changed
 * between the two reads so that it no longer has the asked values is not returned.
 *
 * <p><b>Threading.</b> Thread-safe; all methods may be called concurrently and return cold
 * publishers that do their I/O when subscribed, without blocking the caller.
 *
 * <p><b>Errors</b> arrive as error signals: {@link IllegalArgumentException} for a query that cannot
 * be answered (a value that cannot be part of a key, {@link #find} without a unique constraint among
 * the fields), {@link dev.changepipe.core.PipelineException} for Redis faults, retryable where a retry
 * can help. Cancelling abandons the read.
 */
public interface HotStorageLookup {

    /** The object of {@code model} with primary key {@code pk}, or empty. One round trip (GET). */
    Mono<StoredObject> get(String model, Object pk);

    /**
     * The objects of {@code model} with these primary keys, in the order asked, missing ones left out.
     * One round trip (MGET) per {@link HotStorageOptions#pipelineSize()} keys.
     */
    Flux<StoredObject> getAll(String model, Collection<?> pks);

    /**
     * The object whose unique constraint on exactly the fields of {@code fields} has these values, or
     * empty. The constraint need not be declared in the lookup's options, only in the sink's. At most
     * two round trips.
     */
    Mono<StoredObject> getByUnique(String model, Map<String, ?> fields);

    /**
     * The object matching every field of {@code fields}, which must include all fields of a unique
     * constraint declared in the options: that constraint finds the object (as
     * {@link #getByUnique}) and the other fields are compared in the application. Empty when nothing
     * matches. At most two round trips.
     */
    Mono<StoredObject> find(String model, Map<String, ?> fields);

    /** Closes the lookup's connection; the Redis client stays the caller's. */
    Mono<Void> close();
}
