package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

/**
 * The contract every {@link OperationsStorage} fulfils (DESIGN.md section 6). A test class implements
 * this interface for one storage; every interleaving is forced by the order of the calls.
 */
interface OperationsStorageContract {

    Duration TIMEOUT = Duration.ofSeconds(30);

    /** A fresh storage of its own (own prefix or instance), flushing allowed. */
    OperationsStorage storage();

    /** Queues {@code member} with an explicit score, as an app server with a skewed clock would. */
    void putWithScore(OperationsStorage storage, String importKey, String member, double score);

    /** Makes the import key's lock expire now (waits until it has). */
    void expireLock(OperationsStorage storage, String importKey);

    /** The current time of the storage's clock, in seconds. */
    double nowSeconds(OperationsStorage storage);

    /** The score a queued member has now, or {@code null} when it is not queued. */
    Double scoreOf(OperationsStorage storage, String importKey, String member);

    private static String key() {
        return "app.model_" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static List<String> pks(OperationBatch batch) {
        return batch.operations().stream().map(Operation::pk).toList();
    }

    @Test
    default void registrationReturnsTheNumberNewlyQueued() {
        OperationsStorage s = storage();
        String k = key();
        assertThat(s.registerOperations(k, Operation.Type.INSERT, "1", "2", "3").block(TIMEOUT)).isEqualTo(3);
        assertThat(s.registerOperations(k, Operation.Type.INSERT, "3", "4").block(TIMEOUT)).isEqualTo(1);
        assertThat(s.registerOperations(k, Operation.Type.UPDATE, "3").block(TIMEOUT)).isEqualTo(1);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(5);
        assertThat(s.operationsCount(key()).block(TIMEOUT)).isZero();
    }

    @Test
    default void getOperationsTakesTheOldestFirstAndCountsThemUntilTheirBatchIsRemoved() {
        OperationsStorage s = storage();
        String k = key();
        // Equal scores (one clock tick) order by member, as in Redis: a, b, c either way.
        s.registerOperations(k, Operation.Type.UPDATE, "a").block(TIMEOUT);
        s.registerOperations(k, Operation.Type.UPDATE, "b").block(TIMEOUT);
        s.registerOperations(k, Operation.Type.UPDATE, "c").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 2).block(TIMEOUT);
        assertThat(batch.operations()).containsExactly(
                new Operation(Operation.Type.UPDATE, "default", "a"),
                new Operation(Operation.Type.UPDATE, "default", "b"));
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(3);
    }

    @Test
    default void postSyncRemovesExactlyTheFetchedBatch() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "other", List.of("1", "2", "3", "4")).block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 3).block(TIMEOUT);
        assertThat(s.postSync(batch).block(TIMEOUT)).isEqualTo(3);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        assertThat(s.getOperations(next, 10).block(TIMEOUT).operations())
                .containsExactly(new Operation(Operation.Type.INSERT, "other", "4"));
    }

    @Test
    default void reRegisteredWhileItsBatchIsSyncedIsSyncedAgainNotRemoved() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.UPDATE, "1", "2").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        double fetchedScore = scoreOf(s, k, "update:default.2");
        OperationBatch batch = s.getOperations(lease, 10).block(TIMEOUT);
        // The row changes after the fetch: the app registers the same operation again, within the same
        // clock tick as far as it can (the registration follows the fetch immediately).
        assertThat(s.registerOperations(k, Operation.Type.UPDATE, "2").block(TIMEOUT)).isEqualTo(1);
        assertThat(scoreOf(s, k, "update:default.2")).isGreaterThanOrEqualTo(fetchedScore);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(3);
        assertThat(s.postSync(batch).block(TIMEOUT)).isEqualTo(2);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        OperationBatch again = s.getOperations(next, 10).block(TIMEOUT);
        assertThat(pks(again)).containsExactly("2");
    }

    @Test
    default void reRegisteringAQueuedOperationKeepsItsPlaceInLine() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.UPDATE, "x").block(TIMEOUT);
        double first = scoreOf(s, k, "update:default.x");
        s.registerOperations(k, Operation.Type.UPDATE, "y").block(TIMEOUT);
        for (int i = 0; i < 20; i++) {
            assertThat(s.registerOperations(k, Operation.Type.UPDATE, "x").block(TIMEOUT)).isZero();
        }
        // Its row is read when it is fetched: a row that changes all the time is not pushed back forever.
        assertThat(scoreOf(s, k, "update:default.x")).isEqualTo(first);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        assertThat(pks(s.getOperations(lease, 1).block(TIMEOUT))).containsExactly("x");
    }

    @Test
    default void registeredAfterARoundThatFetchedNothingIsNotRemovedUnseen() {
        OperationsStorage s = storage();
        String k = key();
        // An earlier round with a real batch (django-clickhouse leaves its rank key behind after it).
        s.registerOperations(k, Operation.Type.INSERT, "1", "2", "3").block(TIMEOUT);
        SyncLease first = s.preSync(k).block(TIMEOUT);
        s.postSync(s.getOperations(first, 10).block(TIMEOUT)).block(TIMEOUT);
        // A round that fetches nothing; an operation arrives before its postSync.
        SyncLease empty = s.preSync(k).block(TIMEOUT);
        OperationBatch nothing = s.getOperations(empty, 10).block(TIMEOUT);
        assertThat(nothing.isEmpty()).isTrue();
        s.registerOperations(k, Operation.Type.INSERT, "4", "5").block(TIMEOUT);
        assertThat(s.postSync(nothing).block(TIMEOUT)).isZero();
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(2);
    }

    @Test
    default void scoredInTheFutureIsNeitherLostNorStuck() {
        OperationsStorage s = storage();
        String k = key();
        double future = nowSeconds(s) + 3600;
        putWithScore(s, k, "update:default.future", future);
        s.registerOperations(k, Operation.Type.INSERT, "now").block(TIMEOUT);
        // Not stuck: fetched at once (after the older one), though its time has not come.
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 10).block(TIMEOUT);
        assertThat(pks(batch)).containsExactly("now", "future");
        // Not lost: re-registered by an app with a correct clock during the sync, it stays queued.
        s.registerOperations(k, Operation.Type.UPDATE, "future").block(TIMEOUT);
        assertThat(s.postSync(batch).block(TIMEOUT)).isEqualTo(2);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        OperationBatch again = s.getOperations(next, 10).block(TIMEOUT);
        assertThat(pks(again)).containsExactly("future");
        // And once synced without interference, it is gone.
        assertThat(s.postSync(again).block(TIMEOUT)).isEqualTo(1);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
    }

    @Test
    default void futureScoredRegisteredDuringASyncIsNotRemoved() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 10).block(TIMEOUT);
        putWithScore(s, k, "insert:default.2", nowSeconds(s) + 3600);
        assertThat(s.postSync(batch).block(TIMEOUT)).isEqualTo(1);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(1);
    }

    @Test
    default void workerWhoseLockExpiredAndWasTakenOverRemovesNothing() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2").block(TIMEOUT);
        SyncLease stale = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(stale, 10).block(TIMEOUT);
        expireLock(s, k);
        SyncLease taker = s.preSync(k).block(TIMEOUT);
        assertThat(taker).isNotNull();
        assertThat(taker.token()).isGreaterThan(stale.token());
        OperationBatch taken = s.getOperations(taker, 10).block(TIMEOUT);
        s.postSync(batch).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        s.removeBatch(batch).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        s.getOperations(stale, 10).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(2);
        // The stale worker's release does not release the new holder's lock, nor touch its batches.
        s.postSyncFailed(stale).block(TIMEOUT);
        assertThat(s.preSync(k).blockOptional(TIMEOUT)).isEmpty();
        assertThat(s.postSync(taken).block(TIMEOUT)).isEqualTo(2);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
    }

    @Test
    default void renewalKeepsTheLeaseAndALostLeaseCannotRenewNorTouchTheNewHolder() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        SyncLease stale = s.preSync(k).block(TIMEOUT);
        s.renew(stale).block(TIMEOUT);
        OperationBatch batch = s.getOperations(stale, 10).block(TIMEOUT);
        expireLock(s, k);
        s.renew(stale).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        SyncLease taker = s.preSync(k).block(TIMEOUT);
        s.renew(stale).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        s.renew(taker).block(TIMEOUT);
        s.removeBatch(batch).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        assertThat(pks(s.getOperations(taker, 10).block(TIMEOUT))).containsExactly("1");
    }

    @Test
    default void aWorkerThatDiesLosesNothingItsBatchesAreQueuedAgainByTheNextPreSync() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2", "3", "4", "5").block(TIMEOUT);
        SyncLease dead = s.preSync(k).block(TIMEOUT);
        s.getOperations(dead, 2).block(TIMEOUT);
        s.getOperations(dead, 2).block(TIMEOUT);
        // "1" changes while the worker is gone: queued anew, and back in its old place.
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        expireLock(s, k);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(6);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        OperationBatch all = s.getOperations(next, 10).block(TIMEOUT);
        assertThat(pks(all)).containsExactly("1", "2", "3", "4", "5");
        assertThat(s.postSync(all).block(TIMEOUT)).isEqualTo(5);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
    }

    @Test
    default void postSyncFailedAfterTheLockExpiredTouchesNothingAndTheNextPreSyncRequeues() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        s.getOperations(lease, 1).block(TIMEOUT);
        expireLock(s, k);
        s.postSyncFailed(lease).block(TIMEOUT);
        assertThat(scoreOf(s, k, "insert:default.1")).isNull();
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(2);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        assertThat(pks(s.getOperations(next, 10).block(TIMEOUT))).containsExactly("1", "2");
    }

    @Test
    default void workerWhoseLockExpiredRemovesNothingEvenIfNobodyTookItOver() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 10).block(TIMEOUT);
        expireLock(s, k);
        s.postSync(batch).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(1);
    }

    @Test
    default void preSyncIsExclusiveAndPostSyncFailedKeepsEverything() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        assertThat(s.preSync(k).blockOptional(TIMEOUT)).isEmpty();
        s.getOperations(lease, 10).block(TIMEOUT);
        s.postSyncFailed(lease).block(TIMEOUT);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(1);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        assertThat(next.token()).isGreaterThan(lease.token());
        // Other import keys are independent.
        assertThat(s.preSync(key()).block(TIMEOUT)).isNotNull();
    }

    @Test
    default void pkContainingColonOrDotRoundTrips() {
        OperationsStorage s = storage();
        String k = key();
        List<String> odd = List.of("a:b", "1.5", "x.y:z", ":", ".", "::..", "ключ 🔑", "with space", "{tag}");
        s.registerOperations(k, Operation.Type.UPDATE, "replica_1", odd).block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, 100).block(TIMEOUT);
        assertThat(batch.operations()).containsExactlyInAnyOrderElementsOf(
                odd.stream().map(pk -> new Operation(Operation.Type.UPDATE, "replica_1", pk)).toList());
        assertThat(s.postSync(batch).block(TIMEOUT)).isEqualTo(odd.size());
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
    }

    @Test
    default void aliasWithColonOrDotIsRefused() {
        OperationsStorage s = storage();
        assertThatThrownBy(() -> s.registerOperations(key(), Operation.Type.INSERT, "a.b", List.of("1")).block(TIMEOUT))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dbAlias");
    }

    @Test
    default void concurrentRegistrationsAreAllQueued() {
        OperationsStorage s = storage();
        String k = key();
        int callers = 2000;
        List<Long> added = Flux.range(0, callers)
                .flatMap(i -> s.registerOperations(k, Operation.Type.INSERT, Integer.toString(i % 1000))
                        .subscribeOn(Schedulers.parallel()), 256)
                .collectList().block(TIMEOUT);
        assertThat(added.stream().mapToLong(Long::longValue).sum()).isEqualTo(1000);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(1000);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        Set<String> seen = new HashSet<>(pks(s.getOperations(lease, 5000).block(TIMEOUT)));
        assertThat(seen).containsExactlyInAnyOrderElementsOf(IntStream.range(0, 1000).mapToObj(Integer::toString).toList());
    }

    @Test
    default void lastSyncTimeIsRecorded() {
        OperationsStorage s = storage();
        String k = key();
        assertThat(s.lastSyncTime(k).blockOptional(TIMEOUT)).isEmpty();
        Instant t = Instant.parse("2024-05-06T07:08:09.123456Z");
        s.setLastSyncTime(k, t).block(TIMEOUT);
        assertThat(s.lastSyncTime(k).block(TIMEOUT)).isEqualTo(t);
    }

    @Test
    default void flushEmptiesTheStorage() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1").block(TIMEOUT);
        s.setLastSyncTime(k, Instant.now()).block(TIMEOUT);
        SyncLease before = s.preSync(k).block(TIMEOUT);
        s.flush().block(TIMEOUT);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
        assertThat(s.lastSyncTime(k).blockOptional(TIMEOUT)).isEmpty();
        SyncLease after = s.preSync(k).block(TIMEOUT);
        assertThat(after.token()).isGreaterThan(before.token());
    }

    @Test
    default void everyOperationIsEventuallySyncedExactlyOnceUnderRandomInterleavings() {
        OperationsStorage s = storage();
        String k = key();
        java.util.Random random = new java.util.Random(42);
        Set<String> queuedTruth = new HashSet<>();
        List<String> synced = new ArrayList<>();
        for (int round = 0; round < 200; round++) {
            for (int i = random.nextInt(4); i > 0; i--) {
                String pk = Integer.toString(random.nextInt(20));
                s.registerOperations(k, Operation.Type.UPDATE, pk).block(TIMEOUT);
                queuedTruth.add(pk);
            }
            SyncLease lease = s.preSync(k).block(TIMEOUT);
            OperationBatch batch = s.getOperations(lease, 1 + random.nextInt(5)).block(TIMEOUT);
            // "sync" the batch: whatever is registered from here on must survive the postSync.
            Set<String> fetched = new HashSet<>(pks(batch));
            Set<String> registeredDuring = new HashSet<>();
            for (int i = random.nextInt(3); i > 0; i--) {
                String pk = Integer.toString(random.nextInt(20));
                s.registerOperations(k, Operation.Type.UPDATE, pk).block(TIMEOUT);
                registeredDuring.add(pk);
            }
            if (random.nextInt(10) == 0) {
                s.postSyncFailed(lease).block(TIMEOUT);
            } else {
                s.postSync(batch).block(TIMEOUT);
                synced.addAll(fetched);
                fetched.removeAll(registeredDuring);
                queuedTruth.removeAll(fetched);
                queuedTruth.addAll(registeredDuring);
            }
            queuedTruth.addAll(registeredDuring);
            assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(queuedTruth.size());
        }
        assertThat(synced).isNotEmpty();
    }

    @Test
    default void laterFetchesTakeTheNextOperationsAndOnesRegisteredAgainMeanwhile() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.UPDATE, "1", "2", "3", "4", "5").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch first = s.getOperations(lease, 2).block(TIMEOUT);
        OperationBatch second = s.getOperations(lease, 2).block(TIMEOUT);
        assertThat(pks(first)).containsExactly("1", "2");
        assertThat(pks(second)).containsExactly("3", "4");
        // "1" changes while its batch is written: its row must be read again, so it is fetched again.
        s.registerOperations(k, Operation.Type.UPDATE, "1").block(TIMEOUT);
        OperationBatch third = s.getOperations(lease, 10).block(TIMEOUT);
        assertThat(pks(third)).containsExactlyInAnyOrder("5", "1");
        assertThat(s.getOperations(lease, 10).block(TIMEOUT).isEmpty()).isTrue();
        assertThat(s.removeBatch(first).block(TIMEOUT)).isEqualTo(2);
        assertThat(s.removeBatch(second).block(TIMEOUT)).isEqualTo(2);
        assertThat(s.postSync(third).block(TIMEOUT)).isEqualTo(2);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isZero();
    }

    @Test
    default void removeBatchKeepsTheLockAndPostSyncReleasesIt() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch first = s.getOperations(lease, 1).block(TIMEOUT);
        OperationBatch second = s.getOperations(lease, 1).block(TIMEOUT);
        assertThat(s.removeBatch(first).block(TIMEOUT)).isEqualTo(1);
        assertThat(s.preSync(k).blockOptional(TIMEOUT)).isEmpty();
        // A batch is removed once: a second removal finds it gone.
        assertThat(s.removeBatch(first).block(TIMEOUT)).isZero();
        assertThat(s.postSync(second).block(TIMEOUT)).isEqualTo(1);
        assertThat(s.preSync(k).block(TIMEOUT)).isNotNull();
    }

    @Test
    default void postSyncQueuesTheLeasesOtherOpenBatchesAgain() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2", "3").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch first = s.getOperations(lease, 1).block(TIMEOUT);
        s.getOperations(lease, 1).block(TIMEOUT);
        assertThat(s.postSync(first).block(TIMEOUT)).isEqualTo(1);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        assertThat(pks(s.getOperations(next, 10).block(TIMEOUT))).containsExactly("2", "3");
    }

    @Test
    default void postSyncFailedQueuesOpenBatchesAgainInTheirOrder() {
        OperationsStorage s = storage();
        String k = key();
        s.registerOperations(k, Operation.Type.INSERT, "1", "2", "3").block(TIMEOUT);
        SyncLease lease = s.preSync(k).block(TIMEOUT);
        OperationBatch first = s.getOperations(lease, 1).block(TIMEOUT);
        s.getOperations(lease, 1).block(TIMEOUT);
        s.postSyncFailed(lease).block(TIMEOUT);
        s.removeBatch(first).as(StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        SyncLease next = s.preSync(k).block(TIMEOUT);
        assertThat(pks(s.getOperations(next, 10).block(TIMEOUT))).containsExactly("1", "2", "3");
    }

    @Test
    default void pipelinedBatchesUnderRandomInterleavingsSyncEveryOperationAndLoseNone() {
        OperationsStorage s = storage();
        String k = key();
        java.util.Random random = new java.util.Random(7);
        // The model: what is still queued. A removed batch takes out what it fetched, except what was
        // registered again after its fetch.
        Set<String> queued = new HashSet<>();
        for (int round = 0; round < 60; round++) {
            SyncLease lease = s.preSync(k).block(TIMEOUT);
            java.util.ArrayDeque<OperationBatch> open = new java.util.ArrayDeque<>();
            java.util.Map<OperationBatch, Set<String>> unchanged = new java.util.HashMap<>();
            for (int step = 0; step < 12; step++) {
                int action = random.nextInt(3);
                if (action == 0) {
                    String pk = Integer.toString(random.nextInt(30));
                    s.registerOperations(k, Operation.Type.UPDATE, pk).block(TIMEOUT);
                    queued.add(pk);
                    unchanged.values().forEach(fetched -> fetched.remove(pk));
                } else if (action == 1) {
                    OperationBatch b = s.getOperations(lease, 1 + random.nextInt(4)).block(TIMEOUT);
                    for (OperationBatch other : open) {
                        assertThat(java.util.Collections.disjoint(unchanged.get(other), pks(b)))
                                .as("an operation in two open batches, not registered again since the first")
                                .isTrue();
                    }
                    open.add(b);
                    unchanged.put(b, new HashSet<>(pks(b)));
                } else if (!open.isEmpty()) {
                    // Acknowledgements come in order.
                    OperationBatch b = open.poll();
                    s.removeBatch(b).block(TIMEOUT);
                    queued.removeAll(unchanged.remove(b));
                }
            }
            if (open.isEmpty() || random.nextInt(5) == 0) {
                s.postSyncFailed(lease).block(TIMEOUT);
            } else {
                while (!open.isEmpty()) {
                    OperationBatch b = open.poll();
                    (open.isEmpty() ? s.postSync(b) : s.removeBatch(b)).block(TIMEOUT);
                    queued.removeAll(unchanged.remove(b));
                }
            }
            assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(queued.size());
        }
    }
}
