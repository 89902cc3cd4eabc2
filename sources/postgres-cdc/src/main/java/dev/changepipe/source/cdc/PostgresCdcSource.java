package dev.changepipe.source.cdc;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Source;
import dev.changepipe.core.SourceStatus;
import dev.changepipe.spi.SourceResync;
import dev.changepipe.spi.SourceVerify;
import dev.changepipe.verify.ScheduledVerify;
import dev.changepipe.verify.TableVerification;
import dev.changepipe.spi.TableTruncate;
import io.r2dbc.postgresql.PostgresqlConnectionFactory;
import io.r2dbc.postgresql.PostgresqlConnectionFactoryProvider;
import io.r2dbc.postgresql.replication.LogSequenceNumber;
import io.r2dbc.postgresql.replication.ReplicationStream;
import io.r2dbc.spi.ConnectionFactoryOptions;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * PostgreSQL logical replication as a {@link Source} (docs/postgres-cdc.md): the chosen tables'
 * committed changes, in commit order, decoded from the {@code pgoutput} plugin over R2DBC's
 * replication protocol, after a snapshot of each table.
 *
 * <p><b>Start.</b> Each run checks {@code wal_level}, reads each table's columns and key (its primary
 * key, else its replica identity index; a table without either is refused), creates or completes the
 * publication, and creates the slot when it does not exist.
 *
 * <p><b>Snapshot.</b> Every table not yet copied is read in key order by one query through a portal,
 * {@code chunkRows} rows per chunk (origin {@code snapshot:<schema.table>}), as inserts of version 0, below every streamed version: a
 * streamed change of a key always wins over its snapshot row. A slot created by this run exports its
 * snapshot, and the copy reads in it, so the copy is exactly the state the stream starts from. The
 * progress (the last key acknowledged, or done) is kept in the checkpoint store, one checkpoint per table
 * ({@code <slot>/snapshot/<schema.table>}; resetting it copies the table again); a copy cut by a kill goes
 * on from the last acknowledged key, reading
 * the tables' current rows (which the stream then brings up to date). A table added to the
 * configuration later is copied alone; a slot that disappeared (dropped, or a new database) starts the
 * whole snapshot over.
 *
 * <p><b>Stream.</b> The slot is read from its confirmed position on. {@link ChangeDecoder} makes the
 * rows and their versions; rows are cut into chunks of at most {@code chunkRows}, emitted at once when
 * full and after {@code linger} otherwise (origin: the slot, offset: a sequence number). A chunk that
 * holds a transaction's commit records the LSN after it; once that chunk and every one before it are
 * acknowledged, the LSN is confirmed to the server (sent with the next status update, every
 * {@code statusInterval}), never before. A restart resumes from the confirmed position and reads again
 * what was not confirmed, which the versions make idempotent.
 *
 * <p><b>TOAST.</b> A value an update left unchanged and that the WAL does not carry is taken from
 * the old row ({@code REPLICA IDENTITY FULL}), from the key's earlier change in the same transaction, or
 * read from the table by key before the chunk is emitted; it is never written as {@code NULL}.
 *
 * <p><b>Truncate.</b> Once every chunk before it is written, each sink that is a {@link TableTruncate}
 * removes the table's rows of versions below the truncating transaction's; for a sink that is not (or
 * fails to), the truncate is a dead letter naming the table and the sink.
 */
public final class PostgresCdcSource implements Source, SourceResync, SourceVerify {

    private static final Logger log = LoggerFactory.getLogger(PostgresCdcSource.class);

    static final String SNAPSHOT_ORIGIN_PREFIX = "snapshot:";
    static final String RESYNC_ORIGIN_PREFIX = "resync:";
    static final String DONE = "done";
    static final String STATE = "state";
    /** The snapshot checkpoint's attribute that keeps the bounds a large table's copy is split at. */
    static final String RANGES = "ranges";
    /** The prefix of the snapshot checkpoint's attribute of each range's state ({@code range.0}...). */
    static final String RANGE = "range.";
    /** The snapshot checkpoint's attribute that keeps the table's columns as the source last saw them. */
    static final String COLUMNS = "columns";
    static final String AFTER = "after:";

    final PostgresCdcOptions options;
    final PostgresqlConnectionFactory factory;
    final AtomicLong sequence = new AtomicLong();
    /** The chunks that hold a commit: the LSN to confirm once they are acknowledged, and the commit's time. */
    final ConcurrentNavigableMap<Long, Commit> confirmAt = new ConcurrentSkipListMap<>();
    final Map<String, String> pageKeys = new ConcurrentHashMap<>();
    final Map<String, String> snapshotState = new ConcurrentHashMap<>();
    /** The bounds a table's copy is split at (its ranges' upper bounds but the last's), by table. */
    final Map<String, String[]> rangeBounds = new ConcurrentHashMap<>();
    /** Each range's state ({@code done}, {@code after:<key>}), by {@code <table>#<range>}. */
    final Map<String, String> rangeState = new ConcurrentHashMap<>();
    /** Each table's columns as last seen ({@link KeyText}), kept with its snapshot checkpoint. */
    final Map<String, String> columnsSeen = new ConcurrentHashMap<>();
    /** Each table's snapshot checkpoint's offset, kept when only its columns change. */
    final Map<String, Long> snapshotOffsets = new ConcurrentHashMap<>();
    final AtomicLong received = new AtomicLong();
    final AtomicLong confirmed = new AtomicLong();
    final AtomicLong deadLetters = new AtomicLong();
    /** The highest stream chunk acknowledged (everything up to it is written), for a truncate to wait on. */
    final Sinks.Many<Long> acknowledged = Sinks.many().replay().latest();
    private final List<Gauge> gauges = new ArrayList<>();
    volatile long slotLagBytes;
    volatile long retainedWalBytes;
    volatile String walStatus = "";
    /** The claim token of each table's snapshot checkpoint. */
    final Map<String, Long> checkpointTokens = new ConcurrentHashMap<>();
    volatile ReplicationStream stream;
    /** The tables as the last run named them (schema-qualified once it described them). */
    volatile List<String> tables;
    /** Rows each table's snapshot read in this process. */
    final Map<String, AtomicLong> copiedRows = new ConcurrentHashMap<>();
    /** What the status page adds to each table's line: its last refused change (a dead letter), a failed resync. */
    final Map<String, String> notes = new ConcurrentHashMap<>();
    /** The run that streams, or {@code null}. */
    volatile CdcSession session;
    /** Resyncs started by this process (each one's origin is numbered). */
    final AtomicLong resyncs = new AtomicLong();
    /** The tables being copied again, and the rows read of each. */
    final Map<String, AtomicLong> resyncRows = new ConcurrentHashMap<>();
    /** Each resync's origin, and what completes once its last chunk is acknowledged. */
    final Map<String, Sinks.Empty<Void>> resyncWritten = new ConcurrentHashMap<>();
    /** Why the last run ended ({@code null} while one runs). */
    volatile String stopped;
    /** The verify of the tables, on request and, with {@code verify:}, on a schedule; null when not set up. */
    private volatile ScheduledVerify verifier;
    private static final Duration REPAIR_TIMEOUT = Duration.ofMinutes(10);

    /** The session's output settings: the server writes values in these forms (pgoutput uses them too). */
    static final Map<String, String> SESSION_SETTINGS = Map.of("TimeZone", "UTC", "DateStyle", "ISO, YMD",
            "IntervalStyle", "iso_8601", "extra_float_digits", "3", "bytea_output", "hex");

    private PostgresCdcSource(PostgresCdcOptions options) {
        this.options = options;
        this.tables = options.tables();
        ConnectionFactoryOptions parsed = ConnectionFactoryOptions.parse(options.url());
        Object driver = parsed.getValue(ConnectionFactoryOptions.DRIVER);
        if (!"postgresql".equals(driver) && !"postgres".equals(driver)) {
            throw new IllegalArgumentException("the database of a postgres-cdc source must be an "
                    + "r2dbc:postgresql:// URL, got driver " + driver);
        }
        parsed = parsed.mutate().option(PostgresqlConnectionFactoryProvider.OPTIONS, SESSION_SETTINGS)
                .option(PostgresqlConnectionFactoryProvider.APPLICATION_NAME, "changepipe " + options.name())
                .build();
        this.factory = new PostgresqlConnectionFactoryProvider().create(parsed);
    }

    record Commit(long endLsn, Instant time) {
    }

    /** A source with these options; nothing is connected before {@link #read()}. */
    public static PostgresCdcSource create(PostgresCdcOptions options) {
        PostgresCdcSource source = new PostgresCdcSource(options);
        if (options.meterRegistry() != null) {
            source.registerMetrics(options.meterRegistry());
        }
        return source;
    }

    private void registerMetrics(MeterRegistry registry) {
        Tags tags = Tags.of("source", options.name(), "slot", options.slot());
        gauges.add(gauge(registry, Gauge.builder("changepipe_cdc_confirmed_lsn", confirmed, AtomicLong::get)
                .description("the last LSN confirmed to the server (everything before it is written)"), tags));
        gauges.add(gauge(registry, Gauge.builder("changepipe_cdc_lag_bytes", this, s -> s.slotLagBytes).baseUnit("bytes")
                .description("WAL written by the server and not yet confirmed by the slot"), tags));
        gauges.add(gauge(registry, Gauge.builder("changepipe_cdc_lag_seconds", this, PostgresCdcSource::lagSeconds)
                .baseUnit("seconds").description("age of the oldest commit received and not yet confirmed"), tags));
        gauges.add(gauge(registry, Gauge.builder("changepipe_cdc_retained_wal_bytes", this, s -> s.retainedWalBytes)
                .baseUnit("bytes").description("WAL the server keeps for the slot"), tags));
    }

    /** Registers the gauge in place of one a previous source of the pipeline (before a restart) left. */
    private static <T> Gauge gauge(MeterRegistry registry, Gauge.Builder<T> builder, Tags tags) {
        Gauge gauge = builder.tags(tags).register(registry);
        registry.remove(gauge);
        return builder.tags(tags).register(registry);
    }

    /** Removes this source's gauges. */
    @Override
    public Mono<Void> close() {
        MeterRegistry registry = options.meterRegistry();
        if (registry != null) {
            gauges.forEach(registry::remove);
        }
        return Mono.empty();
    }

    double lagSeconds() {
        Map.Entry<Long, Commit> oldest = confirmAt.firstEntry();
        if (oldest == null || oldest.getValue().time() == null) {
            return 0;
        }
        return Math.max(0, Duration.between(oldest.getValue().time(), Instant.now()).toMillis() / 1000.0);
    }

    /**
     * For readiness: an error while the slot is invalidated or about to be ({@code wal_status} {@code lost} or
     * {@code unreserved}), or lags more than {@code maxLagBytes} behind the server's WAL.
     */
    public Mono<Void> health(long maxLagBytes) {
        return Mono.defer(() -> {
            if ("lost".equals(walStatus) || "unreserved".equals(walStatus)) {
                return Mono.error(new IllegalStateException("replication slot " + options.slot() + " is " + walStatus
                        + ": the server removes (or removed) WAL it needs"));
            }
            if (slotLagBytes > maxLagBytes) {
                return Mono.error(new IllegalStateException("replication slot " + options.slot() + " lags "
                        + slotLagBytes + " bytes of WAL behind the server (at most " + maxLagBytes + ")"));
            }
            return Mono.empty();
        });
    }

    @Override
    public String name() {
        return options.name();
    }

    @Override
    public Flux<Chunk> read() {
        return Flux.usingWhen(CdcSession.open(this), CdcSession::chunks, CdcSession::close, (s, e) -> s.close(),
                CdcSession::close)
                .onErrorMap(e -> Faults.of(options.name(), e))
                // a scheduled verify runs while the pipeline runs
                .doOnSubscribe(s -> {
                    if (verifier != null) {
                        verifier.start();
                    }
                })
                .doFinally(signal -> {
                    if (verifier != null) {
                        verifier.stop();
                    }
                })
                .doOnSubscribe(s -> stopped = null)
                .doOnError(e -> stopped = e.getMessage())
                .doOnCancel(() -> stopped = "the pipeline stopped")
                .doOnComplete(() -> stopped = "the stream ended");
    }

    @Override
    public Mono<Void> acknowledge(Ack ack) {
        return acknowledgeAll(List.of(ack));
    }

    /** Confirms the stream's LSN and saves the snapshot's progress once for the whole list. */
    @Override
    public Mono<Void> acknowledgeAll(List<Ack> acks) {
        Long confirm = null;
        Map<String, Checkpoint> snapshotMoved = new LinkedHashMap<>();
        for (Ack ack : acks) {
            long committable = ack.committable().value();
            if (ack.origin().equals(options.slot())) {
                acknowledged.tryEmitNext(committable);
                Map.Entry<Long, Commit> at = confirmAt.floorEntry(committable);
                if (at != null) {
                    confirm = at.getValue().endLsn();
                    confirmAt.headMap(committable, true).clear();
                }
            } else if (ack.origin().startsWith(RESYNC_ORIGIN_PREFIX)) {
                Sinks.Empty<Void> written = ack.originDone() ? resyncWritten.get(ack.origin()) : null;
                if (written != null) {
                    written.tryEmitEmpty();
                }
            } else if (ack.origin().startsWith(SNAPSHOT_ORIGIN_PREFIX)) {
                String part = ack.origin().substring(SNAPSHOT_ORIGIN_PREFIX.length());
                int hash = part.indexOf('#');
                String table = hash < 0 ? part : part.substring(0, hash);
                String lastKey = pageKeys.remove(ack.origin() + "#" + committable);
                String state = ack.originDone() ? DONE : lastKey != null ? AFTER + lastKey : null;
                if (state == null) {
                    continue;
                }
                if (hash < 0) {
                    snapshotState.put(table, state);
                } else {
                    rangeState.put(part, state);
                }
                if (DONE.equals(state) && (hash < 0 || rangesWritten(table) == rangeBounds.get(table).length + 1)) {
                    snapshotState.put(table, DONE);
                    log.info("{}: snapshot of table {} written", options.name(), table);
                }
                snapshotOffsets.put(table, committable);
                snapshotMoved.put(table, tableCheckpoint(table));
            }
        }
        ReplicationStream current = stream;
        if (confirm != null && current != null) {
            LogSequenceNumber lsn = LogSequenceNumber.valueOf(confirm);
            current.setFlushedLSN(lsn);
            current.setAppliedLSN(lsn);
            confirmed.accumulateAndGet(confirm, Math::max);
        }
        return Flux.fromIterable(snapshotMoved.entrySet()).concatMap(e -> save(e.getKey(), e.getValue())).then();
    }

    /** How many ranges of the table's copy are written (of {@code rangeBounds.get(table).length + 1}). */
    private int rangesWritten(String table) {
        int written = 0;
        for (int r = 0; r <= rangeBounds.get(table).length; r++) {
            written += DONE.equals(rangeState.get(rangeKey(table, r))) ? 1 : 0;
        }
        return written;
    }

    /** The key of a range of a table's copy in {@link #rangeState}, as in its origin: {@code <table>#<range>}. */
    static String rangeKey(String table, int range) {
        return table + "#" + range;
    }

    /** The last key written of a snapshot part whose state is {@code after:<key>}, else {@code null}. */
    static String[] afterKey(String state) {
        return state != null && state.startsWith(AFTER) ? KeyText.decode(state.substring(AFTER.length())) : null;
    }

    /** Forgets what is known of the tables' copies (their checkpoints are read again, or gone). */
    void forgetSnapshots() {
        snapshotState.clear();
        rangeBounds.clear();
        rangeState.clear();
        snapshotOffsets.clear();
    }

    /** Takes a table's state from its checkpoint: the inverse of {@link #tableCheckpoint}. */
    void restoreTable(String table, Checkpoint checkpoint) {
        checkpoint.attributes().forEach((name, value) -> {
            if (name.equals(STATE)) {
                snapshotState.put(table, value);
            } else if (name.equals(RANGES)) {
                rangeBounds.put(table, KeyText.decode(value));
            } else if (name.startsWith(RANGE)) {
                rangeState.put(rangeKey(table, Integer.parseInt(name.substring(RANGE.length()))), value);
            } else if (name.equals(COLUMNS)) {
                columnsSeen.put(table, value);
            }
        });
        snapshotOffsets.put(table, checkpoint.offset().value());
    }

    /** The table's checkpoint: its snapshot's offset and state (and its ranges'), and its columns as last seen. */
    Checkpoint tableCheckpoint(String table) {
        Map<String, String> attributes = new LinkedHashMap<>();
        if (snapshotState.get(table) != null) {
            attributes.put(STATE, snapshotState.get(table));
        }
        String[] bounds = rangeBounds.get(table);
        if (bounds != null && !DONE.equals(snapshotState.get(table))) {
            attributes.put(RANGES, KeyText.encode(bounds));
            for (int r = 0; r <= bounds.length; r++) {
                String state = rangeState.get(rangeKey(table, r));
                if (state != null) {
                    attributes.put(RANGE + r, state);
                }
            }
        }
        if (columnsSeen.get(table) != null) {
            attributes.put(COLUMNS, columnsSeen.get(table));
        }
        return new Checkpoint(snapshotCheckpoint(table), Offset.of(snapshotOffsets.getOrDefault(table, 0L)), attributes);
    }

    /** Saves the table's checkpoint as it is now (its columns changed). */
    Mono<Void> saveTable(String table) {
        return Mono.defer(() -> save(table, tableCheckpoint(table)));
    }

    private Mono<Void> save(String table, Checkpoint checkpoint) {
        return options.checkpoints().save(checkpoint, checkpointTokens.getOrDefault(table, 0L));
    }

    /**
     * Copies a table again while the stream goes on (docs/postgres-cdc.md, "Resync"): its current rows
     * with a version above every change already streamed, then, once written, the sinks that can remove
     * the table's rows of lower versions. Nothing of it is checkpointed: a run that ends first abandons it.
     */
    @Override
    public Mono<Void> resync(String part) {
        return Mono.defer(() -> {
            String table;
            try {
                table = TableName.parse(part).toString();
            } catch (IllegalArgumentException e) {
                return Mono.error(new IllegalArgumentException(options.name() + ": " + e.getMessage()));
            }
            if (!tables.contains(table)) {
                return Mono.error(new IllegalArgumentException(options.name() + ": no table " + table + " (its tables: "
                        + String.join(", ", tables) + ")"));
            }
            CdcSession running = session;
            if (running == null) {
                return Mono.error(new IllegalStateException(options.name() + ": not streaming (yet); a table is "
                        + "copied again once the snapshot is written and the stream runs"));
            }
            if (resyncRows.putIfAbsent(table, new AtomicLong()) != null) {
                return Mono.error(new IllegalStateException(options.name() + ": table " + table
                        + " is already being copied again"));
            }
            running.resync(table);
            return Mono.empty();
        });
    }

    /** Compares the tables with the sinks now, and repairs (docs/verify.md); set up by {@link #verifyWith}. */
    @Override
    public Mono<SourceVerify.Result> verify(String table, boolean repair) {
        ScheduledVerify v = verifier;
        return v == null ? Mono.error(new IllegalStateException(options.name() + ": verify is not set up"))
                : v.verifyNow(table, repair);
    }

    /** The verify {@link #verify} runs, and that runs on a schedule while the source reads. */
    void verifyWith(ScheduledVerify verify) {
        this.verifier = verify;
    }

    /** The tables as verify compares them: each keyed by its primary key (else its replica identity index). */
    List<TableVerification.Table> verifiedTables() {
        return options.tables().stream().map(TableName::parse)
                .map(t -> new TableVerification.Table("table", t.toString(), t.toString(), t.id(), null))
                .toList();
    }

    /**
     * A verify's repair: the keys that differ written again through the stream ({@link CdcSession#rewrite}),
     * each as its row is now, or deleted when it has none; returns once they are written.
     */
    String repair(TableVerification.Table table, TableVerification.Outcome outcome) {
        CdcSession running = session;
        if (running == null) {
            throw new IllegalStateException(options.name() + ": not streaming (yet); keys are written again once the "
                    + "snapshot is written and the stream runs");
        }
        List<String> keys = new ArrayList<>(outcome.missing().keySet());
        keys.addAll(outcome.different().keySet());
        keys.addAll(outcome.extra().keySet());
        Integer written = running.rewrite(table.name(), keys).block(REPAIR_TIMEOUT);
        return "wrote " + written + " key(s) of table " + table.name() + " again through the stream ("
                + outcome.missing().size() + " missing and " + outcome.different().size() + " different: as their rows "
                + "are now; " + outcome.extra().size() + " extra: deleted)";
    }

    /**
     * The checkpoint of a table's snapshot: {@code <slot>/snapshot/<schema.table>}, its attribute
     * {@code state} {@code done} or {@code after:<last key written>}. {@code offsets --reset} of it copies
     * the table again (the pipeline restarts; the stream goes on from the slot).
     */
    String snapshotCheckpoint(String table) {
        return options.slot() + "/snapshot/" + table;
    }

    @Override
    public String describe(Offset offset) {
        Commit commit = confirmAt.get(offset.value());
        return commit == null ? "chunk " + offset.value()
                : "chunk " + offset.value() + " (commits up to " + PgOutput.lsn(commit.endLsn()) + ")";
    }

    /**
     * Lag: the bytes of WAL received and not yet confirmed; dead letters: the changes refused; parts:
     * each table's state (see {@link #tableState}).
     */
    @Override
    public SourceStatus status() {
        Map<String, String> parts = new LinkedHashMap<>();
        for (String table : tables) {
            parts.put(table, tableState(table));
        }
        if (verifier != null) {
            parts.putAll(verifier.lines());
        }
        return new SourceStatus(Math.max(0, received.get() - confirmed.get()), deadLetters.get(), parts);
    }

    /**
     * A table's line on the status page: {@code snapshot: waiting}, {@code snapshot: <n> rows read,
     * written up to key (<key>)}, {@code streaming}, or {@code stopped: <why>}; then its last refused
     * change, if any.
     */
    private String tableState(String table) {
        String snapshot = snapshotState.get(table);
        AtomicLong copied = copiedRows.get(table);
        String rowsRead = String.format("%,d", copied == null ? 0 : copied.get());
        String state;
        if (stopped != null) {
            state = "stopped: " + stopped;
        } else if (!options.snapshot() || DONE.equals(snapshot)) {
            state = stream != null ? "streaming" : "starting";
        } else if (rangeBounds.get(table) != null) {
            state = "snapshot: " + rowsRead + " rows read, " + rangesWritten(table) + " of "
                    + (rangeBounds.get(table).length + 1) + " key ranges written";
        } else if (copied != null || snapshot != null) {
            String[] after = afterKey(snapshot);
            state = "snapshot: " + rowsRead + " rows read"
                    + (after != null ? ", written up to key (" + String.join(", ", after) + ")" : "");
        } else {
            state = "snapshot: waiting";
        }
        AtomicLong resync = resyncRows.get(table);
        if (resync != null) {
            state += "; copying it again: " + String.format("%,d", resync.get()) + " rows read";
        }
        String note = notes.get(table);
        return note == null ? state : state + "; " + note;
    }

    /** The last LSN confirmed to the server (0 before the first). */
    long confirmedLsn() {
        return confirmed.get();
    }
}
