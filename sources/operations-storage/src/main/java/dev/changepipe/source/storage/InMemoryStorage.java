package dev.changepipe.source.storage;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import reactor.core.publisher.Mono;

/**
 * An {@link OperationsStorage} in this process's memory, with the same semantics as
 * {@link RedisStorage} (scores, batches moved out of the queue, fencing tokens, lock expiry): for
 * embedding and for tests. Nothing survives the process.
 *
 * <p><b>Threading.</b> Every operation runs on the subscriber's thread under one monitor and never
 * waits for anything else; the work per call is proportional to the pks or operations it handles.
 */
public final class InMemoryStorage implements OperationsStorage {

    private static final Comparator<Map.Entry<String, Double>> ORDER =
            Comparator.<Map.Entry<String, Double>>comparingDouble(Map.Entry::getValue).thenComparing(Map.Entry::getKey);

    private final StorageOptions options;
    private final Clock clock;
    private final Object lock = new Object();
    private final Map<String, Queue> queues = new HashMap<>();
    private final Map<String, Instant> lastSync = new HashMap<>();

    private InMemoryStorage(StorageOptions options, Clock clock) {
        this.options = Objects.requireNonNull(options, "options");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** A storage with these options on the system clock. */
    public static InMemoryStorage create(StorageOptions options) {
        return new InMemoryStorage(options, Clock.systemUTC());
    }

    /** A storage whose scores and lock expiry follow {@code clock} (tests move it). */
    public static InMemoryStorage create(StorageOptions options, Clock clock) {
        return new InMemoryStorage(options, clock);
    }

    private static final class Queue {
        final Map<String, Double> scores = new HashMap<>();
        final TreeSet<Map.Entry<String, Double>> ordered = new TreeSet<>(ORDER);
        /**
         * The open batches, member to score: the lease holding the lock's, or those of the last lease,
         * which lost it, until the next preSync queues them again.
         */
        final List<Map<String, Double>> open = new ArrayList<>();
        long fence;
        long lockToken;
        long lockExpiresAtMillis;

        boolean lockHeld(long nowMillis) {
            return lockToken != 0 && nowMillis < lockExpiresAtMillis;
        }

        void put(String member, double score) {
            Double old = scores.put(member, score);
            if (old != null) {
                ordered.remove(Map.entry(member, old));
            }
            ordered.add(Map.entry(member, score));
        }

        Map.Entry<String, Double> poll() {
            Map.Entry<String, Double> first = ordered.pollFirst();
            scores.remove(first.getKey());
            return first;
        }

        /** Queues the open batches again: each member with its score, or the queued one where lower. */
        void restore() {
            for (Map<String, Double> batch : open) {
                batch.forEach((member, score) -> {
                    Double queued = scores.get(member);
                    if (queued == null || score < queued) {
                        put(member, score);
                    }
                });
            }
            open.clear();
        }

        /** Ends the lease holding the lock: its open batches are queued again. */
        void release() {
            restore();
            lockToken = 0;
        }
    }

    @Override
    public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias, Collection<String> pks) {
        return Mono.fromCallable(() -> {
            OperationsStorage.checkImportKey(importKey);
            List<String> members = new ArrayList<>(pks.size());
            for (String pk : pks) {
                members.add(new Operation(type, dbAlias, pk).member());
            }
            Instant now = clock.instant();
            double score = now.getEpochSecond() + now.getNano() / 1_000_000_000.0;
            long added = 0;
            synchronized (lock) {
                Queue q = queues.computeIfAbsent(importKey, k -> new Queue());
                for (String member : members) {
                    if (!q.scores.containsKey(member)) {
                        q.put(member, score);
                        added++;
                    }
                }
            }
            return added;
        });
    }

    /** Queues a member with an explicit score, as a client with a skewed clock would (for tests). */
    void putRaw(String importKey, String member, double score) {
        synchronized (lock) {
            queues.computeIfAbsent(importKey, k -> new Queue()).put(member, score);
        }
    }

    /** The member's score, or {@code null} when it is not queued (for tests). */
    Double scoreOf(String importKey, String member) {
        synchronized (lock) {
            Queue q = queues.get(importKey);
            return q == null ? null : q.scores.get(member);
        }
    }

    @Override
    public Mono<Long> operationsCount(String importKey) {
        return Mono.fromCallable(() -> {
            synchronized (lock) {
                Queue q = queues.get(importKey);
                return q == null ? 0L : q.scores.size() + q.open.stream().mapToLong(Map::size).sum();
            }
        });
    }

    @Override
    public Duration lockTimeout() {
        return options.lockTimeout();
    }

    @Override
    public Mono<SyncLease> preSync(String importKey) {
        return Mono.fromCallable(() -> {
            OperationsStorage.checkImportKey(importKey);
            long now = clock.millis();
            synchronized (lock) {
                Queue q = queues.computeIfAbsent(importKey, k -> new Queue());
                if (q.lockHeld(now)) {
                    return null;
                }
                q.restore();
                q.fence++;
                q.lockToken = q.fence;
                q.lockExpiresAtMillis = now + options.lockTimeout().toMillis();
                return new SyncLease(importKey, q.lockToken);
            }
        });
    }

    @Override
    public Mono<Void> renew(SyncLease lease) {
        return Mono.fromRunnable(() -> {
            synchronized (lock) {
                holder(lease);
            }
        });
    }

    @Override
    public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
        return Mono.fromCallable(() -> {
            if (count < 1) {
                throw new IllegalArgumentException("count must be positive, was " + count);
            }
            List<Operation> operations = new ArrayList<>();
            Map<String, Double> snapshot = new LinkedHashMap<>();
            synchronized (lock) {
                Queue q = holder(lease);
                while (!q.ordered.isEmpty() && snapshot.size() < count) {
                    Map.Entry<String, Double> e = q.poll();
                    snapshot.put(e.getKey(), e.getValue());
                    try {
                        operations.add(Operation.parse(e.getKey()));
                    } catch (IllegalArgumentException notAnOperation) {
                        // As in Redis: it leaves the queue with the batch and goes with its removal.
                    }
                }
                if (!snapshot.isEmpty()) {
                    q.open.add(snapshot);
                }
            }
            return new OperationBatch(lease, operations, snapshot);
        });
    }

    @Override
    public Mono<Long> postSync(OperationBatch batch) {
        return remove(batch, true);
    }

    @Override
    public Mono<Long> removeBatch(OperationBatch batch) {
        return remove(batch, false);
    }

    private Mono<Long> remove(OperationBatch batch, boolean release) {
        return Mono.fromCallable(() -> {
            synchronized (lock) {
                Queue q = holder(batch.lease());
                long removed = 0;
                Object snapshot = batch.handle();
                // A batch is removed once: a second removal (or one after it was queued again) finds it gone.
                if (q.open.removeIf(open -> open == snapshot)) {
                    removed = ((Map<?, ?>) snapshot).size();
                }
                if (release) {
                    q.release();
                }
                return removed;
            }
        });
    }

    /** The queue of the lease's import key if the lease holds its lock, which it renews. */
    private Queue holder(SyncLease lease) {
        long now = clock.millis();
        Queue q = queues.get(lease.importKey());
        if (q == null || !q.lockHeld(now) || q.lockToken != lease.token()) {
            throw new LockLostException(lease);
        }
        q.lockExpiresAtMillis = now + options.lockTimeout().toMillis();
        return q;
    }

    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return Mono.fromRunnable(() -> {
            synchronized (lock) {
                Queue q = queues.get(lease.importKey());
                if (q != null && q.lockHeld(clock.millis()) && q.lockToken == lease.token()) {
                    q.release();
                }
            }
        });
    }

    @Override
    public Mono<Instant> lastSyncTime(String importKey) {
        return Mono.fromCallable(() -> {
            synchronized (lock) {
                return lastSync.get(importKey);
            }
        });
    }

    @Override
    public Mono<Void> setLastSyncTime(String importKey, Instant time) {
        return Mono.fromRunnable(() -> {
            synchronized (lock) {
                lastSync.put(OperationsStorage.checkImportKey(importKey), Objects.requireNonNull(time, "time"));
            }
        });
    }

    @Override
    public Mono<Void> flush() {
        return Mono.fromRunnable(() -> {
            if (!options.allowFlush()) {
                throw new IllegalStateException("flush refused: build the storage with allowFlush(true) (tests only)");
            }
            synchronized (lock) {
                // Keep each import key's fencing counter, so that a lease from before the flush never
                // matches a later lock.
                for (Queue q : queues.values()) {
                    q.scores.clear();
                    q.ordered.clear();
                    q.open.clear();
                    q.lockToken = 0;
                }
                lastSync.clear();
            }
        });
    }
}
