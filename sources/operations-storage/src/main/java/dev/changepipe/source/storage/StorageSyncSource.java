package dev.changepipe.source.storage;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * The sync worker as a {@link Source}: drains an {@link OperationsStorage} import key by import key,
 * fetches the current rows from PostgreSQL and emits one chunk per batch (DESIGN.md section 6).
 *
 * <p><b>A round</b> of one import key: {@code preSync} (skip the round if another worker holds the
 * lock), {@code getOperations(batchSize)}, group the pks by database alias, fetch each alias's rows
 * with one {@code = ANY($1)} query in a REPEATABLE READ transaction (see {@link RowFetcher} for the
 * version), turn rows that are gone into tombstones ({@code DELETE} items with the key), emit the
 * items as one chunk (origin = the import key, offset = the round's sequence number), and wait for its
 * acknowledgement. Only the acknowledgement removes the batch ({@code postSync}) and records the last
 * sync time. A round that filled its batch is followed at once; otherwise the next round waits the
 * key's delay. A failing round releases the lock ({@code postSyncFailed}), keeps every operation and
 * is retried after a pause that doubles from the key's delay up to {@code maxRetryDelay}.
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
 * pipeline failed or was stopped) stay queued; {@link #close()} releases their locks, and those of
 * rounds stopped before they emitted.
 *
 * <p><b>Threading.</b> Rounds of different import keys run concurrently; one import key has at most
 * one batch in flight.
 */
public final class StorageSyncSource implements Source {

    private static final Logger log = LoggerFactory.getLogger(StorageSyncSource.class);
    private static final Option<Boolean> FORCE_BINARY = Option.valueOf("forceBinary");

    private final OperationsStorage storage;
    private final StorageSyncOptions options;
    private final RowFetcher fetcher = new RowFetcher();
    private final Map<String, InFlight> inFlight = new ConcurrentHashMap<>();
    /** Leases taken and not yet given back (a round under way, or a batch awaiting its acknowledgement). */
    private final Map<String, SyncLease> held = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> sequences = new ConcurrentHashMap<>();

    /** A batch emitted and not yet acknowledged. */
    private record InFlight(long offset, SyncLease lease, List<StoredOperation> ops, Sinks.One<Void> done) {
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
        DONE
    }

    private Flux<Chunk> loop(ImportKeyOptions key) {
        Duration[] retryDelay = {key.delay()};
        Next[] next = {Next.AFTER_DELAY};
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
                .concatWith(Mono.defer(() -> next[0] == Next.AFTER_DELAY && !key.delay().isZero()
                        ? Mono.delay(key.delay()).then(Mono.<Chunk>empty()) : Mono.<Chunk>empty()))
                .repeat(() -> next[0] != Next.DONE);
    }

    /** One round: emits the batch's chunk (if any), then completes once it was acknowledged. */
    private Flux<Chunk> round(ImportKeyOptions key, Next[] next) {
        return storage.preSync(key.importKey())
                .doOnNext(lease -> held.put(key.importKey(), lease))
                .flatMapMany(lease -> storage.getOperations(lease, key.batchSize())
                        .flatMapMany(ops -> {
                            if (ops.isEmpty()) {
                                next[0] = options.untilEmpty() ? Next.DONE : Next.AFTER_DELAY;
                                return storage.postSync(lease, ops)
                                        .doFinally(signal -> held.remove(key.importKey(), lease))
                                        .then(storage.setLastSyncTime(key.importKey(), Instant.now()))
                                        .then(Mono.<Chunk>empty());
                            }
                            // A drain (untilEmpty) goes on at once until it finds the queue empty.
                            next[0] = ops.size() >= key.batchSize() || options.untilEmpty() ? Next.AT_ONCE
                                    : Next.AFTER_DELAY;
                            return fetchAndEmit(key, lease, ops);
                        })
                        .onErrorResume(error -> storage.postSyncFailed(lease)
                                .doFinally(signal -> held.remove(key.importKey(), lease))
                                .onErrorResume(releaseError -> {
                                    error.addSuppressed(releaseError);
                                    return Mono.empty();
                                })
                                .then(Mono.error(error))))
                .switchIfEmpty(Mono.fromRunnable(() -> {
                    // Lock held by another worker: nothing to do this time, try again after the delay.
                    if (next[0] == Next.AT_ONCE) {
                        next[0] = Next.AFTER_DELAY;
                    }
                }));
    }

    private Flux<Chunk> fetchAndEmit(ImportKeyOptions key, SyncLease lease, List<StoredOperation> ops) {
        Map<String, Map<String, Set<Operation.Type>>> byAlias = new LinkedHashMap<>();
        for (StoredOperation op : ops) {
            Operation o = op.operation();
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
                    return fetcher.fetch(key, e.getKey(), factory, e.getValue());
                })
                .collectList()
                .flatMapMany(fetched -> {
                    List<ChangeItem> items = new ArrayList<>(ops.size());
                    fetched.forEach(f -> items.addAll(f.items()));
                    long offset = sequences.computeIfAbsent(key.importKey(), k -> new AtomicLong()).incrementAndGet();
                    InFlight pending = new InFlight(offset, lease, ops, Sinks.one());
                    inFlight.put(key.importKey(), pending);
                    // A batch of pks no row can have still goes through the pusher (size 1, no items),
                    // so that its acknowledgement removes them.
                    Chunk chunk = items.isEmpty() ? Chunk.of(key.importKey(), Offset.of(offset), 1, List.of(), false)
                            : Chunk.of(key.importKey(), Offset.of(offset), items, false);
                    return Flux.just(chunk).concatWith(pending.done().asMono().then(Mono.empty()));
                });
    }

    @Override
    public Mono<Void> acknowledge(Ack ack) {
        return Mono.defer(() -> {
            InFlight pending = inFlight.get(ack.origin());
            if (pending == null || pending.offset() != ack.offset().value()) {
                return Mono.error(new PipelineException("acknowledgement of unknown batch " + ack.origin() + "@"
                        + ack.offset()));
            }
            return storage.postSync(pending.lease(), pending.ops())
                    .doFinally(signal -> held.remove(ack.origin(), pending.lease()))
                    .flatMap(removed -> storage.setLastSyncTime(ack.origin(), Instant.now()).thenReturn(removed))
                    .doOnNext(removed -> log.debug("{}: import key {}: batch {} synced, {} of {} operations removed",
                            name(), ack.origin(), ack.offset(), removed, pending.ops().size()))
                    .onErrorResume(error -> {
                        log.warn("{}: import key {}: batch {} was written but not removed ({}); its operations "
                                + "will be synced again", name(), ack.origin(), ack.offset(), error.toString());
                        return Mono.empty();
                    })
                    .doFinally(signal -> {
                        inFlight.remove(ack.origin(), pending);
                        pending.done().tryEmitEmpty();
                    })
                    .then();
        });
    }

    /**
     * Releases the locks still held: of batches that were emitted and never acknowledged, and of rounds
     * cancelled before they emitted (the pipeline stopped mid-round). Their operations stay queued.
     */
    @Override
    public Mono<Void> close() {
        inFlight.clear();
        return Flux.fromIterable(List.copyOf(held.values()))
                .concatMap(lease -> {
                    held.remove(lease.importKey(), lease);
                    return storage.postSyncFailed(lease)
                            .onErrorResume(e -> {
                                log.warn("{}: releasing the lock of import key {} failed (it expires by itself): {}",
                                        name(), lease.importKey(), e.toString());
                                return Mono.empty();
                            });
                })
                .then();
    }
}
