package dev.changepipe.source.storage;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Source;
import io.r2dbc.pool.ConnectionPool;
import io.r2dbc.pool.ConnectionPoolConfiguration;
import io.r2dbc.spi.ConnectionFactories;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryOptions;
import io.r2dbc.spi.Option;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.Disposables;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * The sync worker as a {@link Source}: drains an {@link OperationsStorage} import key by import key,
 * fetches the current rows from PostgreSQL and emits one chunk per batch (DESIGN.md section 6).
 *
 * <p><b>A round</b> of one import key: {@code preSync} (if another worker holds the lock, look again
 * after the key's delay or half the lock timeout, whichever is shorter), then batch after batch under
 * that lease: {@code getOperations(batchSize)}, group the pks by database alias, fetch each alias's
 * rows with one {@code = ANY($1)} query (a range when the integer keys lie close together) in a
 * REPEATABLE READ transaction (see {@link RowFetcher} for the version), turn rows that are gone into tombstones
 * ({@code DELETE} items with the key), and emit the items as one chunk (origin = the import key,
 * offset = the batch's sequence number). Only a batch's acknowledgement removes it
 * ({@code removeBatch}) and records the last sync time.
 *
 * <p><b>Batches in flight.</b> While a full batch is being written, the next one is fetched (from
 * Redis, then PostgreSQL) and emitted, up to {@link StorageSyncOptions#batchesInFlight()} emitted and
 * not acknowledged; a fetch takes its operations out of the queue, so the next fetch takes the next
 * ones (and any registered again meanwhile, whose rows changed). The pusher writes and acknowledges
 * them in order. The round stops fetching after a batch that was not full,
 * waits for the acknowledgements of its batches and releases the lock. A round whose last batch was
 * full is followed at once; otherwise the next round waits the key's delay. A failing round releases
 * the lock ({@code postSyncFailed}, which queues again every batch not yet removed) and is retried after a pause
 * that doubles from the key's delay up to {@code maxRetryDelay}.
 *
 * <p><b>The lease</b> is renewed every third of the storage's lock timeout for as long as the round
 * lasts, however slow the writes; a renewal that finds it lost (expired, taken over) stops the round as
 * a failed round, which puts back nothing it does not own and removes nothing more. A worker that
 * dies stops renewing, and its import key is taken over once its lock expired.
 *
 * <p><b>Isolation.</b> Each import key runs its own loop; a key whose rounds fail (a missing table, an
 * unknown alias, a database down) is retried on its own while the others go on.
 *
 * <p><b>Item values.</b> Every column of the row: integers as {@code Long}, numeric {@code BigDecimal},
 * text {@code String}, boolean {@code Boolean}, uuid {@code String}, timestamps and dates as
 * {@code java.time} values, json as text, arrays as {@code List}. The key is
 * {@code {keyColumn: value}}.
 *
 * <p><b>Acknowledgement.</b> {@link #acknowledge} removes the batch and never fails the pipeline:
 * when the removal fails (a lock that expired, Redis down) the operations stay queued and are synced
 * again, which the versions make idempotent. Operations of a chunk that is never acknowledged (the
 * pipeline failed or was stopped) stay queued; {@link #close()} releases the locks of rounds still
 * under way. An acknowledgement that arrives after its round failed removes nothing: the round's lease
 * is gone, and its operations are synced again.
 *
 * <p><b>Threading.</b> Rounds of different import keys run concurrently; one import key has one round
 * at a time, which fetches one batch at a time.
 */
public final class StorageSyncSource implements Source {

    private static final Logger log = LoggerFactory.getLogger(StorageSyncSource.class);
    private static final Option<Boolean> FORCE_BINARY = Option.valueOf("forceBinary");

    private final OperationsStorage storage;
    private final StorageSyncOptions options;
    private final RowFetcher fetcher = new RowFetcher();
    /** Batches emitted and not yet acknowledged, by import key and offset. */
    private final Map<String, Map<Long, InFlight>> inFlight = new ConcurrentHashMap<>();
    /** Locks being given back by rounds cancelled while taking them; {@link #close()} waits for them. */
    private final Set<CompletableFuture<Void>> givingBack = ConcurrentHashMap.newKeySet();
    /** Rounds under way: their leases are given back by {@link #close()}. */
    private final Map<String, Round> rounds = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> sequences = new ConcurrentHashMap<>();

    /** A batch emitted and not yet acknowledged. */
    private record InFlight(Round round, long offset, OperationBatch batch, Sinks.One<Void> done) {
    }

    /** One round of one import key: its lease and its batches emitted and not yet acknowledged. */
    private static final class Round {
        final ImportKeyOptions key;
        final SyncLease lease;
        /** Errs with {@link LockLostException} when a renewal found the lease lost; never completes. */
        final Sinks.Empty<Void> lost = Sinks.empty();
        /** The periodic renewal of the lease; disposed when the lease is given back. */
        volatile Disposable renewal = Disposables.disposed();
        /** Oldest first; guarded by {@code this}. */
        private final Deque<InFlight> emitted = new ArrayDeque<>();
        /** The last batch was full: fetch another one in this round. */
        volatile boolean fetchMore = true;
        /** The round's last fetch found nothing while no batch was in flight: the queue was empty. */
        volatile boolean foundEmpty;
        /** The lease was given back: acknowledgements remove nothing any more. */
        final AtomicBoolean ended = new AtomicBoolean();

        Round(ImportKeyOptions key, SyncLease lease) {
            this.key = key;
            this.lease = lease;
        }

        synchronized void add(InFlight batch) {
            emitted.addLast(batch);
        }

        synchronized void remove(InFlight batch) {
            emitted.remove(batch);
        }

        synchronized boolean idle() {
            return emitted.isEmpty();
        }

        /** Completes once fewer than {@code limit} batches are in flight (the only fetcher waits here). */
        synchronized Mono<Void> room(int limit) {
            return emitted.size() < limit ? Mono.empty() : emitted.peekFirst().done().asMono();
        }

        /** Completes once every batch emitted so far was acknowledged. */
        synchronized Mono<Void> drained() {
            return Mono.when(emitted.stream().map(b -> b.done().asMono()).toList());
        }
    }

    private StorageSyncSource(OperationsStorage storage, StorageSyncOptions options) {
        this.storage = Objects.requireNonNull(storage, "storage");
        this.options = Objects.requireNonNull(options, "options");
    }

    /** A sync worker over {@code storage}. */
    public static StorageSyncSource create(OperationsStorage storage, StorageSyncOptions options) {
        return new StorageSyncSource(storage, options);
    }

    /**
     * A pooled R2DBC connection factory for an {@code r2dbc:postgresql://...} URL, for
     * {@link StorageSyncOptions.Builder#database}. Dispose it ({@code ConnectionPool.dispose()}) when done.
     *
     * <p>Rows are transferred in PostgreSQL's binary format ({@code forceBinary=true}) unless the URL
     * sets {@code forceBinary} itself: decoding timestamps, numerics and integers from binary costs a
     * fraction of parsing their text, and the values are the same Java types.
     */
    public static ConnectionPool pooledDatabase(String r2dbcUrl, int maxConnections) {
        if (maxConnections < 1) {
            throw new IllegalArgumentException("maxConnections must be positive, was " + maxConnections);
        }
        ConnectionFactoryOptions options = ConnectionFactoryOptions.parse(r2dbcUrl);
        if (!options.hasOption(FORCE_BINARY)) {
            options = options.mutate().option(FORCE_BINARY, true).build();
        }
        return new ConnectionPool(ConnectionPoolConfiguration.builder(ConnectionFactories.get(options))
                .initialSize(0)
                .maxSize(maxConnections)
                .maxIdleTime(Duration.ofMinutes(5))
                .build());
    }

    @Override
    public String name() {
        return options.name();
    }

    @Override
    public Flux<Chunk> read() {
        return Flux.fromIterable(options.importKeys())
                .flatMap(this::loop, options.importKeys().size(), 1);
    }

    /** What a round left to do next. */
    private enum Next {
        AT_ONCE,
        AFTER_DELAY,
        /** The lock was held by another worker. */
        WHEN_UNLOCKED,
        DONE
    }

    private Flux<Chunk> loop(ImportKeyOptions key) {
        Duration[] retryDelay = {key.delay()};
        Next[] next = {Next.AFTER_DELAY};
        // A lock held elsewhere is looked at again after the delay or half the lock timeout, whichever
        // is shorter: a worker that died is taken over soon after its lock expired.
        Duration whenLocked = min(key.delay(), storage.lockTimeout().dividedBy(2));
        Flux<Chunk> round = Flux.defer(() -> round(key, next))
                .doOnComplete(() -> retryDelay[0] = key.delay())
                .onErrorResume(error -> {
                    log.warn("{}: sync round of import key {} failed, retrying in {}: {}", name(), key.importKey(),
                            retryDelay[0], error.toString());
                    Duration wait = retryDelay[0];
                    long doubled = Math.min(options.maxRetryDelay().toMillis(), Math.max(1, wait.toMillis() * 2));
                    retryDelay[0] = Duration.ofMillis(Math.max(doubled, key.delay().toMillis()));
                    next[0] = Next.AT_ONCE;
                    return Mono.delay(wait).then(Mono.empty());
                });
        return round
                .concatWith(Mono.defer(() -> {
                    Duration wait = next[0] == Next.AFTER_DELAY ? key.delay()
                            : next[0] == Next.WHEN_UNLOCKED ? whenLocked : Duration.ZERO;
                    return wait.isZero() ? Mono.<Chunk>empty() : Mono.delay(wait).then(Mono.<Chunk>empty());
                }))
                .repeat(() -> next[0] != Next.DONE);
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** One round: emits the chunks of its batches, then completes once they were acknowledged. */
    private Flux<Chunk> round(ImportKeyOptions key, Next[] next) {
        // The lock is taken even if the round is cancelled meanwhile (the pipeline stops): then it is
        // given back here, rather than left to expire with nobody to renew it.
        CompletableFuture<SyncLease> taking = storage.preSync(key.importKey()).toFuture();
        return Mono.fromFuture(taking, true)
                .doOnCancel(() -> {
                    CompletableFuture<Void> release = taking.thenCompose(lease -> lease == null
                            ? CompletableFuture.completedFuture(null)
                            : storage.postSyncFailed(lease).onErrorResume(e -> {
                                log.warn("{}: releasing the lock of import key {} failed (it expires by itself): {}",
                                        name(), key.importKey(), e.toString());
                                return Mono.empty();
                            }).toFuture());
                    givingBack(release);
                })
                .doOnSuccess(lease -> {
                    if (lease == null) {
                        // Lock held by another worker: nothing to do this time, look again soon.
                        next[0] = Next.WHEN_UNLOCKED;
                    }
                })
                .flatMapMany(lease -> {
                    Round round = new Round(key, lease);
                    rounds.put(key.importKey(), round);
                    round.renewal = renewals(round);
                    Flux<Chunk> batches = Mono.defer(() -> round.room(options.batchesInFlight())
                                    .then(Mono.defer(() -> nextBatch(round))))
                            .repeat(() -> round.fetchMore && !round.ended.get());
                    return batches
                            .concatWith(Mono.defer(round::drained).then(Mono.defer(() -> end(round))).then(Mono.empty()))
                            // A lost lease stops the round as a failed fetch or removal would.
                            .takeUntilOther(round.lost.asMono())
                            // Stopped mid-round: close() gives the lease back; should it not come, the
                            // lock expires all the same.
                            .doOnCancel(() -> round.renewal.dispose())
                            .doOnComplete(() -> next[0] = round.foundEmpty
                                    ? (options.untilEmpty() ? Next.DONE : Next.AFTER_DELAY)
                                    // A drain (untilEmpty) goes on at once until it finds the queue empty.
                                    : round.fetchMore || options.untilEmpty() ? Next.AT_ONCE : Next.AFTER_DELAY)
                            .onErrorResume(error -> end(round)
                                    .onErrorResume(releaseError -> {
                                        error.addSuppressed(releaseError);
                                        return Mono.empty();
                                    })
                                    .then(Mono.error(error)));
                });
    }

    /**
     * Renews the round's lease every third of the lock timeout until the lease is given back. A lease
     * found lost stops the round ({@link Round#lost}); a renewal that fails otherwise (Redis down) is
     * logged, and the next one tries again: if the lock expired meanwhile, that one finds it lost.
     */
    private Disposable renewals(Round round) {
        Duration every = storage.lockTimeout().dividedBy(3);
        return Flux.interval(every, every)
                .onBackpressureDrop()
                .concatMap(tick -> storage.renew(round.lease)
                        .onErrorResume(e -> !(e instanceof LockLostException), e -> {
                            log.warn("{}: renewing the sync lock of import key {} failed: {}", name(),
                                    round.key.importKey(), e.toString());
                            return Mono.empty();
                        }), 1)
                .subscribe(null, e -> {
                    log.warn("{}: import key {}: {}; the round stops", name(), round.key.importKey(), e.getMessage());
                    round.lost.tryEmitError(e);
                });
    }

    /** Fetches the round's next batch and emits its chunk; completes empty when the fetch found nothing. */
    private Mono<Chunk> nextBatch(Round round) {
        ImportKeyOptions key = round.key;
        return storage.getOperations(round.lease, key.batchSize())
                .flatMap(batch -> {
                    round.fetchMore = batch.fetched() >= key.batchSize();
                    if (batch.isEmpty()) {
                        round.foundEmpty = round.idle();
                        return round.foundEmpty
                                ? storage.setLastSyncTime(key.importKey(), Instant.now()).then(Mono.<Chunk>empty())
                                : Mono.<Chunk>empty();
                    }
                    return fetchAndEmit(round, batch);
                });
    }

    /** Gives the round's lease back, once: its operations not yet removed stay queued. */
    private Mono<Void> end(Round round) {
        return Mono.defer(() -> {
            if (!round.ended.compareAndSet(false, true)) {
                return Mono.empty();
            }
            round.renewal.dispose();
            rounds.remove(round.key.importKey(), round);
            // Once begun, giving the lease back is not cancelled by a stop (close() waits for it, as for
            // a lock taken while the round was cancelled): a release cut short would leave the lock to
            // expire, and a worker taking over right after the stop would find it held.
            return Mono.fromFuture(givingBack(storage.postSyncFailed(round.lease).toFuture()), true);
        });
    }

    /** Tracks a lock being given back until it is, so that {@link #close()} waits for it. */
    private CompletableFuture<Void> givingBack(CompletableFuture<Void> release) {
        givingBack.add(release);
        release.whenComplete((v, e) -> givingBack.remove(release));
        return release;
    }

    /**
     * The batch's members that are not operations, each a dead letter ({@code malformed}, keyed by the
     * member, so a batch fetched again costs none twice) before the batch's chunk is emitted: they go with
     * the batch's removal once it is written. Without a dead-letter store they are logged.
     */
    private Mono<Void> rejected(ImportKeyOptions key, OperationBatch batch) {
        if (batch.rejected().isEmpty()) {
            return Mono.empty();
        }
        return deadLetters(store -> batch.rejected().stream()
                        .map(member -> new DeadLetter(store.pipeline(), null, key.importKey(), 0, key.model(), member,
                                "malformed", "queue member '" + member + "' is not an operation ('<op>:<db alias>.<pk>',"
                                + " op insert, update or delete)", member))
                        .toList(),
                () -> batch.rejected().forEach(member -> log.warn("{}: import key {}: dropping a queue member that is "
                        + "not an operation: {}", name(), key.importKey(), member)));
    }

    /**
     * Appends the letters to the pipeline's dead-letter store (off the event loop), or, without a store,
     * runs {@code withoutStore} (which logs them).
     */
    private Mono<Void> deadLetters(Function<DeadLetterStore, List<DeadLetter>> letters, Runnable withoutStore) {
        DeadLetterStore store = options.deadLetters();
        if (store == null) {
            return Mono.fromRunnable(withoutStore);
        }
        return Mono.fromRunnable(() -> store.append(letters.apply(store)))
                .subscribeOn(Schedulers.boundedElastic())
                .then();
    }

    /**
     * Pks no row can have (not a value of the key column's type), each a dead letter ({@code malformed},
     * keyed by alias and pk) before the batch's chunk is emitted; they go with the batch's removal.
     * Without a dead-letter store they are logged.
     */
    private Mono<Void> invalid(ImportKeyOptions key, String alias, Map<String, String> invalidPks) {
        if (invalidPks.isEmpty()) {
            return Mono.empty();
        }
        return deadLetters(store -> invalidPks.entrySet().stream()
                        .map(e -> new DeadLetter(store.pipeline(), null, key.importKey(), 0, key.model(),
                                alias + "." + e.getKey(), "malformed", e.getValue(), alias + "." + e.getKey()))
                        .toList(),
                () -> invalidPks.values().forEach(reason ->
                        log.warn("{}: import key {}: {}; dropping it", name(), key.importKey(), reason)));
    }

    private Mono<Chunk> fetchAndEmit(Round round, OperationBatch batch) {
        return rejected(round.key, batch).then(Mono.defer(() -> emit(round, batch)));
    }

    private Mono<Chunk> emit(Round round, OperationBatch batch) {
        ImportKeyOptions key = round.key;
        Map<String, Map<String, Set<Operation.Type>>> byAlias = new LinkedHashMap<>();
        for (Operation o : batch.operations()) {
            byAlias.computeIfAbsent(o.dbAlias(), a -> new LinkedHashMap<>())
                    .computeIfAbsent(o.pk(), pk -> java.util.EnumSet.noneOf(Operation.Type.class))
                    .add(o.type());
        }
        return Flux.fromIterable(byAlias.entrySet())
                .concatMap(e -> {
                    ConnectionFactory factory = options.databases().get(e.getKey());
                    if (factory == null) {
                        return Mono.error(new PipelineException("import key " + key.importKey()
                                + " has operations of database alias '" + e.getKey() + "', which is not configured"));
                    }
                    String alias = e.getKey();
                    return fetcher.fetch(key, alias, factory, e.getValue())
                            .flatMap(f -> invalid(key, alias, f.invalidPks()).thenReturn(f));
                })
                .collectList()
                .map(fetched -> {
                    List<ChangeItem> items = new ArrayList<>(batch.size());
                    fetched.forEach(f -> items.addAll(f.items()));
                    long offset = sequences.computeIfAbsent(key.importKey(), k -> new AtomicLong()).incrementAndGet();
                    InFlight pending = new InFlight(round, offset, batch, Sinks.one());
                    round.add(pending);
                    inFlight.computeIfAbsent(key.importKey(), k -> new ConcurrentHashMap<>()).put(offset, pending);
                    // A batch of pks no row can have still goes through the pusher (size 1, no items),
                    // so that its acknowledgement removes them.
                    return items.isEmpty() ? Chunk.of(key.importKey(), Offset.of(offset), 1, List.of(), false)
                            : Chunk.of(key.importKey(), Offset.of(offset), items, false);
                });
    }

    @Override
    public Mono<Void> acknowledge(Ack ack) {
        return Mono.defer(() -> {
            Map<Long, InFlight> ofKey = inFlight.get(ack.origin());
            InFlight pending = ofKey == null ? null : ofKey.remove(ack.offset().value());
            if (pending == null) {
                return Mono.error(new PipelineException("acknowledgement of unknown batch " + ack.origin() + "@"
                        + ack.offset()));
            }
            Round round = pending.round();
            Mono<Void> removal = round.ended.get()
                    ? Mono.fromRunnable(() -> log.debug("{}: import key {}: batch {} was written after its round "
                            + "ended; its operations will be synced again", name(), ack.origin(), ack.offset()))
                    : storage.removeBatch(pending.batch())
                            .flatMap(removed -> storage.setLastSyncTime(ack.origin(), Instant.now()).thenReturn(removed))
                            .doOnNext(removed -> log.debug("{}: import key {}: batch {} synced, {} of {} operations "
                                    + "removed", name(), ack.origin(), ack.offset(), removed, pending.batch().size()))
                            .onErrorResume(error -> {
                                // The lease is gone (or Redis is): stop fetching under it; the round ends.
                                round.fetchMore = false;
                                log.warn("{}: import key {}: batch {} was written but not removed ({}); its "
                                        + "operations will be synced again", name(), ack.origin(), ack.offset(),
                                        error.toString());
                                return Mono.empty();
                            })
                            .then();
            return removal.doFinally(signal -> {
                round.remove(pending);
                pending.done().tryEmitEmpty();
            });
        });
    }

    /**
     * Releases the locks of rounds still under way (the pipeline stopped mid-round, or with batches
     * emitted and never acknowledged). Their operations stay queued.
     */
    @Override
    public Mono<Void> close() {
        inFlight.clear();
        // a stop that cancelled a round while it took its lock: the lock is given back before the
        // process may exit, not left to expire (a handover right after a stop would find it held)
        Mono<Void> givenBack = Mono.fromFuture(CompletableFuture.allOf(givingBack.toArray(CompletableFuture[]::new)))
                .timeout(storage.lockTimeout(), Mono.empty()) // by then the lock has expired anyway
                .onErrorResume(e -> Mono.empty());
        return givenBack.thenMany(Flux.fromIterable(List.copyOf(rounds.values())))
                .concatMap(round -> end(round)
                        .onErrorResume(e -> {
                            log.warn("{}: releasing the lock of import key {} failed (it expires by itself): {}",
                                    name(), round.key.importKey(), e.toString());
                            return Mono.empty();
                        }))
                .then();
    }
}
