package dev.changepipe.source.storage;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * Metrics and logging around a storage. The queue-size gauge follows the storage's own answers: it
 * is set by {@link #operationsCount}, raised by the newly queued count of each registration and
 * lowered by the removed count of each removal, so it needs no polling.
 */
final class MeteredStorage implements OperationsStorage {

    private static final Logger log = LoggerFactory.getLogger(MeteredStorage.class);

    private final OperationsStorage delegate;
    private final MeterRegistry registry;
    private final Map<String, AtomicLong> queueSizes = new ConcurrentHashMap<>();
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();

    MeteredStorage(OperationsStorage delegate, MeterRegistry registry) {
        this.delegate = delegate;
        this.registry = registry;
    }

    @Override
    public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias, Collection<String> pks) {
        return Mono.defer(() -> {
            long start = System.nanoTime();
            return delegate.registerOperations(importKey, type, dbAlias, pks)
                    .doOnNext(added -> {
                        timer(importKey).record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
                        counter(importKey, type).increment(pks.size());
                        queueSize(importKey).addAndGet(added);
                        if (log.isDebugEnabled()) {
                            log.debug("registered {} on {} items ({} new) of import key {}", type.wireName(), pks.size(),
                                    added, importKey);
                        }
                    });
        });
    }

    @Override
    public Mono<Long> operationsCount(String importKey) {
        return delegate.operationsCount(importKey).doOnNext(n -> queueSize(importKey).set(n));
    }

    @Override
    public Mono<SyncLease> preSync(String importKey) {
        return delegate.preSync(importKey);
    }

    @Override
    public Duration lockTimeout() {
        return delegate.lockTimeout();
    }

    @Override
    public Mono<Void> renew(SyncLease lease) {
        return delegate.renew(lease);
    }

    @Override
    public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
        return delegate.getOperations(lease, count);
    }

    @Override
    public Mono<Long> postSync(OperationBatch batch) {
        return removed(batch, delegate.postSync(batch));
    }

    @Override
    public Mono<Long> removeBatch(OperationBatch batch) {
        return removed(batch, delegate.removeBatch(batch));
    }

    private Mono<Long> removed(OperationBatch batch, Mono<Long> removal) {
        String importKey = batch.lease().importKey();
        return removal.doOnNext(removed -> {
            queueSize(importKey).addAndGet(-removed);
            log.info("removed {} operations from storage (import key {})", removed, importKey);
        });
    }

    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return delegate.postSyncFailed(lease);
    }

    @Override
    public Mono<Instant> lastSyncTime(String importKey) {
        return delegate.lastSyncTime(importKey);
    }

    @Override
    public Mono<Void> setLastSyncTime(String importKey, Instant time) {
        return delegate.setLastSyncTime(importKey, time);
    }

    @Override
    public Mono<Void> flush() {
        return delegate.flush().doOnSuccess(v -> queueSizes.values().forEach(size -> size.set(0)));
    }

    @Override
    public Mono<Void> close() {
        return delegate.close();
    }

    private AtomicLong queueSize(String importKey) {
        return queueSizes.computeIfAbsent(importKey, key -> {
            AtomicLong size = new AtomicLong();
            Gauge.builder(StorageMetrics.QUEUE_SIZE, size, AtomicLong::get)
                    .description("operations queued per import key")
                    .tag(StorageMetrics.TAG_IMPORT_KEY, key)
                    .register(registry);
            return size;
        });
    }

    private Counter counter(String importKey, Operation.Type type) {
        return counters.computeIfAbsent(importKey + '\u0000' + type.wireName(), k -> Counter.builder(StorageMetrics.REGISTERED)
                .description("operations registered")
                .tag(StorageMetrics.TAG_IMPORT_KEY, importKey)
                .tag(StorageMetrics.TAG_TYPE, type.wireName())
                .register(registry));
    }

    private Timer timer(String importKey) {
        return timers.computeIfAbsent(importKey, k -> Timer.builder(StorageMetrics.REGISTRATION_TIME)
                .description("registration calls")
                .tag(StorageMetrics.TAG_IMPORT_KEY, importKey)
                .register(registry));
    }
}
