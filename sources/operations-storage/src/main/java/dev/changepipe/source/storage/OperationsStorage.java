package dev.changepipe.source.storage;

import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * A queue of row operations per import key: applications register which rows changed (after their
 * transaction committed); a sync worker drains them in batches (DESIGN.md section 6).
 *
 * <p><b>A sync round</b> is {@link #preSync} (takes the import key's lock and returns a
 * {@link SyncLease} with a fencing token), {@link #getOperations} (takes the oldest operations, by
 * score, out of the queue into a batch being synced), then, once the rows were durably written,
 * {@link #postSync} (deletes exactly that batch and releases the lock) or, on failure,
 * {@link #postSyncFailed} (puts the lease's batches back into the queue and releases the lock).
 *
 * <p><b>Several batches per lease.</b> A worker that fetches the next batch while the previous one is
 * still being written calls {@code getOperations} again under the same lease: a batch fetched and not
 * yet removed is <em>open</em>, and since its operations left the queue, the next fetch takes the next
 * ones. It removes each batch but the last with {@link #removeBatch}, which keeps the lock, and the
 * last with {@code postSync}.
 *
 * <p><b>Leases are short and renewed.</b> A lock lives for the storage's {@link #lockTimeout()} unless
 * renewed: every call under a lease renews it, and a worker renews it with {@link #renew} while it has
 * nothing else to say (a slow write), several times per lock timeout. A worker that dies stops renewing,
 * and another takes its import key over once the lock expired, within about one lock timeout. A round may
 * thus last any time; no call assumes it ends within the lock timeout.
 *
 * <p><b>Guarantees</b> (each a test in {@code OperationsStorageContract}, run against every
 * implementation):
 * <ul>
 *   <li>an operation registered again while its batch is being synced is queued again, and stays
 *       queued after the removal of that batch (the row changed after it was fetched);</li>
 *   <li>a removal removes only the operations fetched in that batch, never ones registered after the
 *       fetch, even when the fetch returned nothing;</li>
 *   <li>an operation scored in the future (clock skew) is fetched like any other, in score order;</li>
 *   <li>a fetch or removal whose lease expired or was taken over removes nothing and fails with
 *       {@link LockLostException}; the lease's open batches are queued again by the next
 *       {@code preSync}, so a worker that dies loses nothing;</li>
 *   <li>an operation is in two open batches of a lease only if it was registered again after the
 *       first fetched it;</li>
 *   <li>any pk (with {@code :} or {@code .}, any Unicode) round-trips.</li>
 * </ul>
 *
 * <p><b>Threading.</b> Every method may be called concurrently from any thread; the returned
 * publishers do their I/O when subscribed and never block the subscriber's thread. Registrations
 * issued concurrently are batched by the implementation.
 *
 * <p><b>Errors</b> arrive as error signals; I/O faults are retryable {@code PipelineException}s.
 * Cancelling a registration may or may not prevent it.
 */
public interface OperationsStorage {

    /**
     * Registers that the rows with these pks, of database alias {@code dbAlias}, had operation
     * {@code type}. Each becomes the member {@code "<type>:<dbAlias>.<pk>"} scored by the registration
     * time; a member that is still queued keeps its score (its place in line: its row is read when it
     * is fetched), and one being synced is queued anew.
     *
     * @return how many operations were newly queued (a re-registration of a queued operation counts
     *     zero, as with django-clickhouse's {@code ZADD})
     */
    Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias, Collection<String> pks);

    /** {@link #registerOperations(String, Operation.Type, String, Collection)} for the default alias. */
    default Mono<Long> registerOperations(String importKey, Operation.Type type, String... pks) {
        return registerOperations(importKey, type, Operation.DEFAULT_DB_ALIAS, List.of(pks));
    }

    /**
     * How many operations of the import key are queued or in an open batch (one registered again while
     * its batch is synced counts twice: it is synced twice).
     */
    Mono<Long> operationsCount(String importKey);

    /** How long a lock lives unless renewed. */
    Duration lockTimeout();

    /**
     * Takes the import key's sync lock for the storage's lock timeout. Completes empty when another
     * worker holds it.
     */
    Mono<SyncLease> preSync(String importKey);

    /**
     * Renews the lease's lock for the storage's lock timeout.
     *
     * @throws LockLostException (as an error signal) when the lease expired or was taken over; nothing
     *     was touched then
     */
    Mono<Void> renew(SyncLease lease);

    /**
     * Takes the oldest {@code count} queued operations of the lease's import key (lowest scores first,
     * future scores included) out of the queue into a new open batch of the lease, which holds them
     * until it is removed or queued again. Renews the lock.
     *
     * @throws LockLostException (as an error signal) when the lease expired or was taken over
     */
    Mono<OperationBatch> getOperations(SyncLease lease, int count);

    /**
     * Removes the batch (its operations are synced; those registered again since it was fetched are
     * queued again and stay so), as {@link #removeBatch} does, then puts the lease's other open batches
     * back into the queue and releases the lock, as {@link #postSyncFailed} does.
     *
     * @return how many operations the batch held, or 0 when it was removed or queued again before
     * @throws LockLostException (as an error signal) when the lease expired or was taken over before
     *     the removal; nothing was removed then
     */
    Mono<Long> postSync(OperationBatch batch);

    /**
     * Removes the batch (its operations are synced; those registered again since it was fetched are
     * queued again and stay so) after checking the lease's fencing token, and renews the lock; keeps
     * the lease's other open batches.
     *
     * @return how many operations the batch held, or 0 when it was removed or queued again before
     * @throws LockLostException (as an error signal) when the lease expired or was taken over
     */
    Mono<Long> removeBatch(OperationBatch batch);

    /**
     * If the lease still holds the lock: puts its open batches back into the queue (each operation with
     * its score, or the queued one where lower) and releases the lock. Otherwise does nothing: the
     * next {@code preSync} queues the batches again. Removes nothing either way.
     */
    Mono<Void> postSyncFailed(SyncLease lease);

    /** When the import key was last synced, or empty when never. */
    Mono<Instant> lastSyncTime(String importKey);

    /** Records when the import key was last synced. */
    Mono<Void> setLastSyncTime(String importKey, Instant time);

    /**
     * Deletes every operation, lock and last sync time of this storage (for tests). Fails with
     * {@link IllegalStateException} unless the storage was built with flushing allowed.
     */
    Mono<Void> flush();

    /** Releases connections. */
    default Mono<Void> close() {
        return Mono.empty();
    }

    /**
     * Wraps a storage with metrics and logging of registrations: a gauge of the queue size per
     * import key ({@value StorageMetrics#QUEUE_SIZE}), a counter of registered operations
     * ({@value StorageMetrics#REGISTERED}, tags import key and type) and a timer of registration
     * calls ({@value StorageMetrics#REGISTRATION_TIME}).
     */
    static OperationsStorage metered(OperationsStorage storage, MeterRegistry registry) {
        return new MeteredStorage(storage, registry);
    }

    /** Checks an import key: non-empty, no braces (they would break Redis Cluster hash tags). */
    static String checkImportKey(String importKey) {
        if (importKey == null || importKey.isEmpty() || importKey.indexOf('{') >= 0 || importKey.indexOf('}') >= 0) {
            throw new IllegalArgumentException("importKey must be non-empty and contain no '{' or '}', was '"
                    + importKey + "'");
        }
        return importKey;
    }
}
