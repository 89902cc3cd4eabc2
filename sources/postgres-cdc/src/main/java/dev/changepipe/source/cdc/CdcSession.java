package dev.changepipe.source.cdc;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.TableColumns;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableTruncate;
import io.r2dbc.postgresql.api.PostgresqlConnection;
import io.r2dbc.postgresql.api.PostgresqlReplicationConnection;
import io.r2dbc.postgresql.replication.LogSequenceNumber;
import io.r2dbc.postgresql.replication.ReplicationRequest;
import io.r2dbc.postgresql.replication.ReplicationSlotRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.util.retry.Retry;

/**
 * One run of a {@link PostgresCdcSource}: its connections (one for queries, one for replication), what it
 * found at start, the snapshot and the stream. The source keeps what outlives a run (acknowledgements,
 * the snapshot's progress, the metrics' values).
 */
final class CdcSession {

    private static final Logger log = LoggerFactory.getLogger(PostgresCdcSource.class);
    private static final String DONE = PostgresCdcSource.DONE;
    private static final Pattern SNAPSHOT_NAME = Pattern.compile("[0-9A-Fa-f-]+");
    /** Keys per TOAST read-back query (bound parameters stay far below PostgreSQL's 65,535). */
    private static final int KEYS_PER_READ = 500;
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration SLOT_POLL = Duration.ofSeconds(5);
    /** A clock tick among the stream's elements (see {@code ChunkCut}). */
    private static final ChangeDecoder.Element TICK = new ChangeDecoder.Committed(-1, null);

    private final PostgresCdcSource source;
    private final PostgresCdcOptions options;
    private final PostgresqlConnection sql;
    /** The event loops the connections' requests are made on (see {@link Faults#requestedOn}). */
    private final Scheduler sqlLoop;
    private PostgresqlReplicationConnection replication;
    /** The server process that streams the slot to this session, once it started. */
    private volatile String walsender;
    private final Map<String, TableShape> catalog = new LinkedHashMap<>();
    private String exportedSnapshot;
    private volatile Disposable slotPoll;
    private volatile Disposable heartbeats;
    /** {@code server_version_num}: messages (the heartbeat) need 14 or later. */
    private int serverVersion;
    /** The copies made while the stream runs: tables ({@link #resync}), keys ({@link #rewrite}). */
    private final Sinks.Many<Flux<Chunk>> resyncs = Sinks.many().unicast().onBackpressureBuffer();

    private CdcSession(PostgresCdcSource source, PostgresqlConnection sql) {
        this.source = source;
        this.options = source.options;
        this.sql = sql;
        this.sqlLoop = Faults.eventLoop(sql);
    }

    static Mono<CdcSession> open(PostgresCdcSource source) {
        return source.factory.create()
                .flatMap(connection -> {
                    CdcSession session = new CdcSession(source, connection);
                    return session.prepare().thenReturn(session)
                            .onErrorResume(e -> session.close().then(Mono.error(e)));
                });
    }

    private Mono<Void> prepare() {
        return one("SHOW server_version_num")
                .doOnNext(v -> serverVersion = Integer.parseInt(v.trim()))
                .then(one("SHOW wal_level"))
                .flatMap(level -> "logical".equals(level) ? Mono.empty() : Mono.error(new PipelineException(
                        options.name() + ": PostgreSQL runs with wal_level=" + level + "; logical replication "
                                + "needs wal_level=logical (postgresql.conf, then a restart)")))
                .thenMany(Flux.fromIterable(options.tables()).concatMap(this::describe))
                .doOnNext(shape -> catalog.put(shape.name.toString(), shape))
                .then(Mono.fromRunnable(() -> source.tables = List.copyOf(catalog.keySet())))
                .then(publication())
                .then(Mono.fromRunnable(() -> {
                    source.forgetSnapshots();
                    source.columnsSeen.clear();
                }))
                .thenMany(Flux.defer(() -> Flux.fromIterable(List.copyOf(catalog.keySet()))))
                .concatMap(table -> options.checkpoints().claim(source.snapshotCheckpoint(table))
                        .doOnNext(token -> source.checkpointTokens.put(table, token))
                        .then(options.checkpoints().load(source.snapshotCheckpoint(table)))
                        .doOnNext(c -> source.restoreTable(table, c)))
                .then()
                .then(source.factory.replication())
                .doOnNext(r -> replication = r)
                .then(slot());
    }

    /** The table's columns and key, from the catalog; a table that cannot be replicated is refused. */
    private Mono<TableShape> describe(String configured) {
        TableName name = TableName.parse(configured);
        return rows("SELECT c.relreplident::text FROM pg_class c WHERE c.oid = to_regclass($1)",
                name.sql())
                .next()
                .switchIfEmpty(Mono.error(() -> new PipelineException(options.name() + ": table " + name
                        + " does not exist")))
                .flatMap(cls -> {
                    if ("n".equals(cls[0])) {
                        return Mono.error(new PipelineException(options.name() + ": table " + name + " has REPLICA "
                                + "IDENTITY NOTHING, so its updates and deletes are not replicated; give it a "
                                + "primary key and REPLICA IDENTITY DEFAULT"));
                    }
                    Mono<List<String[]>> columns = rows("SELECT a.attname::text, a.atttypid::int8::text, "
                            + "format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = "
                            + "to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", name.sql())
                            .collectList();
                    // the columns of one index: the primary key, else the replica identity index
                    Mono<List<String>> key = rows("SELECT a.attname::text FROM pg_index i, "
                            + "unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a "
                            + "WHERE i.indexrelid = (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = to_regclass($1) "
                            + "AND (x.indisprimary OR x.indisreplident) ORDER BY x.indisprimary DESC LIMIT 1) "
                            + "AND a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n", name.sql())
                            .map(r -> r[0]).collectList();
                    return Mono.zip(columns, key).map(t -> shape(name, t.getT1(), t.getT2()));
                });
    }

    private TableShape shape(TableName name, List<String[]> rows, List<String> keyRows) {
        String[] columns = new String[rows.size()];
        int[] types = new int[rows.size()];
        String[] sqlTypes = new String[rows.size()];
        for (int i = 0; i < columns.length; i++) {
            columns[i] = rows.get(i)[0];
            types[i] = Integer.parseInt(rows.get(i)[1]);
            sqlTypes[i] = rows.get(i)[2];
        }
        List<Integer> key = new ArrayList<>();
        for (String column : keyRows) {
            int at = List.of(columns).indexOf(column);
            if (at < 0 || key.contains(at)) {
                break;
            }
            key.add(at);
        }
        if (key.isEmpty()) {
            throw new PipelineException(options.name() + ": table " + name + " has neither a primary key nor a "
                    + "replica identity index, so its rows cannot be told apart; add a primary key");
        }
        return new TableShape(name, columns, types, sqlTypes, key.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Creates the publication, or adds the tables it lacks (or refuses when it may not). */
    private Mono<Void> publication() {
        String pub = options.publication();
        return rows("SELECT schemaname::text || '.' || tablename::text FROM pg_publication_tables "
                + "WHERE pubname = $1", pub)
                .map(r -> r[0]).collectList()
                .zipWith(rows("SELECT 1::text FROM pg_publication WHERE pubname = $1", pub).hasElements())
                .flatMap(t -> {
                    List<TableShape> missing = catalog.values().stream()
                            .filter(s -> !t.getT1().contains(s.name.toString())).toList();
                    if (missing.isEmpty()) {
                        return Mono.empty();
                    }
                    String list = String.join(", ", missing.stream().map(s -> s.name.sql()).toList());
                    if (!options.createPublication()) {
                        return Mono.error(new PipelineException(options.name() + ": publication " + pub
                                + (t.getT2() ? " lacks " + list + " (ALTER PUBLICATION " + pub + " ADD TABLE " + list
                                + ")" : " does not exist (CREATE PUBLICATION " + pub + " FOR TABLE " + list + ")")
                                + ", or set createPublication: true"));
                    }
                    String ddl = t.getT2() ? "ALTER PUBLICATION " + TableName.quote(pub) + " ADD TABLE " + list
                            : "CREATE PUBLICATION " + TableName.quote(pub) + " FOR TABLE " + list;
                    log.info("{}: {}", options.name(), ddl);
                    return execute(ddl);
                });
    }

    /** Uses the slot, or creates it (and then copies the tables in the snapshot it exported). */
    private Mono<Void> slot() {
        String slot = options.slot();
        return rows("SELECT plugin::text, (database = current_database())::text, "
                + "coalesce(confirmed_flush_lsn::text, ''), coalesce(wal_status, '') FROM pg_replication_slots "
                + "WHERE slot_name = $1", slot)
                .next()
                .flatMap(found -> {
                    if (!"pgoutput".equals(found[0]) || !"true".equals(found[1])) {
                        return Mono.error(new PipelineException(options.name() + ": replication slot " + slot
                                + " belongs to another database or plugin (" + found[0] + "); choose another `slot`"));
                    }
                    if ("lost".equals(found[3])) {
                        return Mono.error(new PipelineException(options.name() + ": replication slot " + slot
                                + " was invalidated (the server removed WAL it needed: max_slot_wal_keep_size); "
                                + "drop it (SELECT pg_drop_replication_slot('" + slot + "')) to copy the tables again"));
                    }
                    log.info("{}: replication slot {} resumes at {}", options.name(), slot, found[2]);
                    return Mono.just(true);
                })
                .switchIfEmpty(Mono.defer(() -> {
                    if (!source.snapshotState.isEmpty()) {
                        log.warn("{}: replication slot {} is gone (dropped, or another database): the changes "
                                + "since it was last read are lost to it, so every table is copied again",
                                options.name(), slot);
                        source.forgetSnapshots();
                    }
                    // forgotten before the slot exists: a kill between the two copies every table next time
                    Mono<Void> forget = Flux.fromIterable(List.copyOf(catalog.keySet()))
                            .concatMap(table -> options.checkpoints().delete(source.snapshotCheckpoint(table)))
                            .then();
                    return forget.then(replication.createSlot(ReplicationSlotRequest.logical().slotName(slot)
                                    .outputPlugin("pgoutput").build())
                            .doOnNext(created -> {
                                log.info("{}: created replication slot {} at {}", options.name(), slot,
                                        created.getConsistentPoint());
                                String name = created.getSnapshotName();
                                exportedSnapshot = name != null && SNAPSHOT_NAME.matcher(name).matches() ? name : null;
                            }))
                            .thenReturn(true);
                }))
                .then();
    }

    Flux<Chunk> chunks() {
        return columnsAddedWhileStopped().thenMany(snapshot()).concatWith(stream());
    }

    /**
     * The columns each table gained since the source last saw it (kept with its snapshot checkpoint),
     * added to the sinks' targets before any row is read: the stream's first relation message of a run
     * already has them, so the stream cannot tell. A table seen for the first time is only remembered.
     */
    private Mono<Void> columnsAddedWhileStopped() {
        return Flux.defer(() -> Flux.fromIterable(List.copyOf(catalog.values()))).concatMap(table -> {
            String name = table.name.toString();
            String seen = source.columnsSeen.get(name);
            if (KeyText.encode(table.columns).equals(seen)) {
                return Mono.empty();
            }
            Mono<Void> add = Mono.empty();
            if (seen != null) {
                int[] added = table.addedSince(KeyText.decode(seen));
                if (added.length > 0) {
                    log.info("{}: table {} gained column(s) {} while the source was stopped", options.name(), name,
                            java.util.Arrays.stream(added).mapToObj(i -> table.columns[i]).toList());
                    add = addColumns(new ChangeDecoder.Reshaped(table, added, 0));
                }
            }
            return add.then(rememberColumns(table));
        }).then();
    }

    /** Keeps the table's columns as seen now with its checkpoint. */
    private Mono<Void> rememberColumns(TableShape table) {
        return Mono.defer(() -> {
            source.columnsSeen.put(table.name.toString(), KeyText.encode(table.columns));
            return source.saveTable(table.name.toString());
        });
    }

    /** Copies the tables not copied yet ({@link TableCopy#snapshot}). */
    private Flux<Chunk> snapshot() {
        List<TableShape> todo = new ArrayList<>();
        if (options.snapshot()) {
            for (TableShape shape : catalog.values()) {
                if (!DONE.equals(source.snapshotState.get(shape.name.toString()))) {
                    todo.add(shape);
                }
            }
        }
        if (todo.isEmpty()) {
            return Flux.empty();
        }
        return new TableCopy(source, sql, sqlLoop, exportedSnapshot).snapshot(todo);
    }

    private Flux<Chunk> stream() {
        boolean heartbeat = !options.heartbeat().isZero() && serverVersion >= 140000;
        var builder = ReplicationRequest.logical()
                .slotName(options.slot())
                .startPosition(LogSequenceNumber.valueOf(0)) // the slot's confirmed position
                .slotOption("proto_version", 1)
                .slotOption("publication_names", options.publication());
        if (heartbeat) {
            builder = builder.slotOption("messages", true);
        }
        ReplicationRequest request = builder.statusInterval(options.statusInterval()).build();
        Map<String, TableShape> tables = Map.copyOf(catalog);
        return replication.startReplication(request)
                .delayUntil(started -> rows("SELECT active_pid::text FROM pg_replication_slots WHERE slot_name = $1",
                        options.slot()).next().doOnNext(r -> walsender = r[0]).onErrorResume(e -> Mono.empty()))
                .flatMapMany(started -> {
            source.stream = started;
            slotPoll = Flux.interval(Duration.ZERO, SLOT_POLL).onBackpressureDrop()
                    .concatMap(tick -> pollSlot(), 1).subscribe();
            if (heartbeat) {
                heartbeats = Flux.interval(options.heartbeat(), options.heartbeat()).onBackpressureDrop()
                        .concatMap(tick -> heartbeat(), 1).subscribe();
            }
            ChangeDecoder decoder = new ChangeDecoder(tables, options.chunkRows(), options.chunkBytes());
            Flux<ChangeDecoder.Element> ticks = Flux.interval(options.linger(), options.linger())
                    .onBackpressureDrop().map(t -> TICK);
            Flux<ChangeDecoder.Element> changes = Faults.requestedOn(Faults.eventLoop(replication),
                    started.map(PgOutput::decode)).concatMapIterable(decoder::accept);
            Flux<Chunk> streamed = Flux.merge(changes, ticks)
                    .bufferUntil(new ChunkCut(options.chunkRows(), options.chunkBytes()))
                    .concatMap(this::chunks)
                    // a stream the server ended: the resyncs under way finish, then the run ends
                    .doOnComplete(this::endResyncs);
            source.session = this;
            return Flux.merge(streamed, resyncs.asFlux().flatMap(copy -> copy));
        });
    }

    /**
     * Writes a heartbeat into the WAL ({@code pg_logical_emit_message}, not transactional): the stream
     * brings it back after every transaction committed before it, and its position is confirmed once
     * the chunks before it are written. Without it, a slot whose tables are idle on a busy server is
     * never confirmed, and the server keeps all the WAL written since. A refusal (a role without the
     * right) is logged and ends the heartbeats of this run.
     */
    private Mono<Void> heartbeat() {
        return rows("SELECT pg_logical_emit_message(false, $1, '')::text", ChangeDecoder.HEARTBEAT)
                .then()
                .onErrorResume(e -> {
                    log.warn("{}: heartbeat failed ({}); without it, the slot's position moves only with changes of "
                            + "its tables", options.name(), e.getMessage());
                    Disposable d = heartbeats;
                    if (d != null) {
                        d.dispose();
                    }
                    return Mono.empty();
                });
    }

    /** The slot's lag, retained WAL and status, for the metrics and {@link PostgresCdcSource#health}; a failed poll is skipped. */
    private Mono<Void> pollSlot() {
        return rows("SELECT coalesce((pg_current_wal_lsn() - confirmed_flush_lsn)::int8, 0)::text, "
                + "coalesce((pg_current_wal_lsn() - restart_lsn)::int8, 0)::text, coalesce(wal_status, '') "
                + "FROM pg_replication_slots WHERE slot_name = $1", options.slot())
                .doOnNext(r -> {
                    source.slotLagBytes = Long.parseLong(r[0]);
                    source.retainedWalBytes = Long.parseLong(r[1]);
                    source.walStatus = r[2];
                })
                .then()
                .onErrorResume(e -> Mono.empty());
    }

    /**
     * Where a chunk ends: after {@code chunkRows} rows or {@code chunkBytes} of them, or at a tick (every {@code linger}) that finds
     * rows or a commit waiting. The ticks, merged into the stream, make a quiet stream's last changes
     * go out within the linger; a plain {@code bufferTimeout} stalled the stream here.
     */
    private static final class ChunkCut implements java.util.function.Predicate<ChangeDecoder.Element> {

        private final TableCopy.ChunkLimit limit;
        private boolean pending;

        ChunkCut(int chunkRows, long chunkBytes) {
            this.limit = new TableCopy.ChunkLimit(chunkRows, chunkBytes);
        }

        @Override
        public boolean test(ChangeDecoder.Element e) {
            if (e == TICK) {
                if (!pending) {
                    return false;
                }
                limit.reset();
            } else {
                pending = true;
                if (!(e instanceof ChangeDecoder.Row row) || !limit.add(row.bytes())) {
                    return false;
                }
            }
            pending = false;
            return true;
        }
    }

    /** The chunk of these rows, after the unchanged TOAST values still missing were read. */
    private Mono<Chunk> chunk(List<ChangeDecoder.Element> elements) {
        List<ChangeDecoder.Row> toRead = new ArrayList<>();
        for (ChangeDecoder.Element e : elements) {
            if (e instanceof ChangeDecoder.Row row && row.unchanged() != null) {
                toRead.add(row);
            }
        }
        return (toRead.isEmpty() ? Mono.<Void>empty() : readUnchanged(toRead)).then(Mono.fromSupplier(() -> {
            long seq = source.sequence.incrementAndGet();
            List<ChangeItem> items = new ArrayList<>(elements.size());
            ChangeDecoder.Committed last = null;
            for (ChangeDecoder.Element e : elements) {
                if (e instanceof ChangeDecoder.Row row) {
                    items.add(row.kind() == 'D'
                            ? ChangeItem.delete(row.table().id, row.table().keyColumns.row(row.table().keyValues(row.keyText())), row.version())
                            : row.table().item(row.kind() == 'I' ? ChangeItem.Kind.INSERT : ChangeItem.Kind.UPDATE,
                                    row.values(), row.version(), row.commitTime(),
                                    // the decoder's estimate, unless values were read in since
                                    row.unchanged() == null ? row.bytes() : row.table().estimateSize(row.values())));
                } else if (e instanceof ChangeDecoder.Committed c && e != TICK) {
                    last = c;
                } else if (e instanceof ChangeDecoder.Refused r) {
                    refuse(r);
                }
            }
            if (last != null) {
                source.confirmAt.put(seq, new PostgresCdcSource.Commit(last.endLsn(), last.commitTime()));
                source.received.accumulateAndGet(last.endLsn(), Math::max);
            }
            return Chunk.of(options.slot(), Offset.of(seq), items, false);
        }));
    }

    /**
     * The chunk of these elements; at a truncate, the chunk of the rows before it, then (once everything
     * emitted is written) the truncate applied to the sinks, then the rest.
     */
    private Flux<Chunk> chunks(List<ChangeDecoder.Element> elements) {
        for (int i = 0; i < elements.size(); i++) {
            ChangeDecoder.Element e = elements.get(i);
            Mono<Void> step = e instanceof ChangeDecoder.Refused r && r.cause().equals("truncate") ? truncate(r)
                    : e instanceof ChangeDecoder.Reshaped n ? addColumns(n).then(rememberColumns(n.table())) : null;
            if (step != null) {
                List<ChangeDecoder.Element> rest = elements.subList(i + 1, elements.size());
                return chunk(elements.subList(0, i)).flux()
                        .concatWith(afterEverythingEmittedIsWritten().then(step).then(Mono.empty()))
                        .concatWith(Flux.defer(() -> chunks(rest)));
            }
        }
        return chunk(elements).flux();
    }

    /** Asks the stream to copy the table again ({@link PostgresCdcSource#resync}). */
    synchronized void resync(String table) {
        resyncs.tryEmitNext(Flux.defer(() -> recopy(table)));
    }

    /**
     * These keys of a table (texts of its one key column) written again while the stream goes on, a
     * verify's repair: read in a snapshot of their own with the version of the WAL position read before it,
     * as {@link #recopy} reads a table; a key without a row is deleted. Completes with the number of keys
     * once every chunk of them is acknowledged; fails if the run ends first.
     */
    Mono<Integer> rewrite(String tableName, List<String> keys) {
        Copy copy = newCopy(tableName);
        Flux<Chunk> chunks = describe(tableName)
                .zipWith(one("SELECT pg_current_wal_lsn()::text"))
                .flatMapMany(t -> {
                    TableShape table = t.getT1();
                    long version = PgOutput.lsn(t.getT2()) << ChangeDecoder.SLICE_BITS;
                    log.info("{}: writing {} key(s) of table {} again, as of {}", options.name(), keys.size(), tableName,
                            t.getT2());
                    return inOwnSnapshot((c, copier) -> copier.keyed(c, Faults.eventLoop(c), table, keys, version,
                            copy.origin(), new AtomicLong()));
                })
                .onErrorResume(e -> {
                    copy.written().tryEmitError(e);
                    return Mono.empty();
                });
        synchronized (this) {
            if (resyncs.tryEmitNext(chunks).isFailure()) {
                copy.written().tryEmitError(new IllegalStateException("the stream ended"));
            }
        }
        return copy.written().asMono().thenReturn(keys.size())
                .doFinally(signal -> source.resyncWritten.remove(copy.origin()));
    }

    /** A copy made while the stream runs: its origin, and what completes once its last chunk is acknowledged. */
    private record Copy(String origin, Sinks.Empty<Void> written) {
    }

    /** A new copy of the table, its origin numbered and registered with the source for its acknowledgement. */
    private Copy newCopy(String tableName) {
        Copy copy = new Copy(PostgresCdcSource.RESYNC_ORIGIN_PREFIX + tableName + "#" + source.resyncs.incrementAndGet(),
                Sinks.empty());
        source.resyncWritten.put(copy.origin(), copy.written());
        return copy;
    }

    /** What {@code read} reads on a connection of its own, in a read-only snapshot of its own. */
    private Flux<Chunk> inOwnSnapshot(java.util.function.BiFunction<PostgresqlConnection, TableCopy, Flux<Chunk>> read) {
        return Flux.usingWhen(source.factory.create(),
                c -> Sql.execute(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        .thenMany(read.apply(c, new TableCopy(source, sql, sqlLoop, null)))
                        .concatWith(Sql.execute(c, "COMMIT").then(Mono.empty())),
                c -> c.close(), (c, e) -> c.close(), c -> c.close());
    }

    private synchronized void endResyncs() {
        resyncs.tryEmitComplete();
    }

    /**
     * The table copied again while the stream goes on: its rows as they are now, read on a connection of
     * their own, with the version of the WAL position read just before the copy's snapshot (every change
     * committed after the snapshot has a higher one, every change it holds a lower one); once they are
     * written, each sink that can ({@link TableTruncate}) removes the table's rows of lower versions: those
     * of keys deleted since, or written behind the pipeline's back. A failure ends the resync, not the stream.
     */
    private Flux<Chunk> recopy(String tableName) {
        Copy copy = newCopy(tableName);
        AtomicLong copied = source.resyncRows.computeIfAbsent(tableName, t -> new AtomicLong());
        return describe(tableName)
                .zipWith(one("SELECT pg_current_wal_lsn()::text"))
                .flatMapMany(t -> {
                    TableShape table = t.getT1();
                    long version = PgOutput.lsn(t.getT2()) << ChangeDecoder.SLICE_BITS;
                    log.info("{}: copying table {} again, as of {}", options.name(), tableName, t.getT2());
                    TableCopy copier = new TableCopy(source, sql, sqlLoop, null);
                    Flux<Chunk> pages = copier.copies() ? copier.copyOfTable(table, version, copy.origin(), copied)
                            : inOwnSnapshot((c, r2dbc) -> r2dbc.pages(c, Faults.eventLoop(c), table, null, null, null,
                                    version, copy.origin(), copied, false));
                    return pages.concatWith(copy.written().asMono()
                            .then(afterEverythingEmittedIsWritten())
                            .then(removeOlderThan(table, version))
                            .doOnSuccess(v -> log.info("{}: table {} copied again ({} rows)", options.name(), tableName,
                                    copied.get()))
                            .then(Mono.empty()));
                })
                .onErrorResume(e -> {
                    log.error("{}: copying table {} again failed: {}", options.name(), tableName, e.toString());
                    source.notes.put(tableName, "copying it again failed: " + e.getMessage());
                    return Mono.empty();
                })
                .doFinally(signal -> {
                    source.resyncRows.remove(tableName);
                    source.resyncWritten.remove(copy.origin());
                });
    }

    /** After a resync: each sink that can removes the table's rows of versions below the copy's. */
    private Mono<Void> removeOlderThan(TableShape table, long version) {
        return removeBelow(table, version, sink -> { }, (sink, why) -> log.warn("{}: rows of table {} deleted before it "
                + "was copied again may remain in sink {}: {}", options.name(), table.name, sink.name(),
                why == null ? "it cannot remove rows by version" : why));
    }

    /**
     * Each sink that is a {@link TableTruncate} removes the table's rows of versions below {@code version};
     * {@code applied} is told of each that did, {@code notApplied} of each that cannot ({@code null}) or
     * failed to (why). A sink whose server is down past its retries fails the run instead.
     */
    private Mono<Void> removeBelow(TableShape table, long version, java.util.function.Consumer<Sink> applied,
            java.util.function.BiConsumer<Sink, String> notApplied) {
        return Flux.defer(() -> Flux.fromIterable(options.sinks().get()))
                .concatMap(sink -> {
                    if (!(sink instanceof TableTruncate target)) {
                        notApplied.accept(sink, null);
                        return Mono.empty();
                    }
                    return target.truncate(table.id, version)
                            .doOnSuccess(v -> applied.accept(sink))
                            .onErrorResume(e -> !isFaultOfTheTarget(e), e -> {
                                notApplied.accept(sink, e.getMessage());
                                return Mono.empty();
                            });
                })
                .then();
    }

    /** Completes once every chunk emitted so far is acknowledged (so nothing earlier reaches a target after). */
    private Mono<Void> afterEverythingEmittedIsWritten() {
        return Mono.defer(() -> {
            long emitted = source.sequence.get();
            return source.acknowledged.asFlux().filter(acked -> acked >= emitted).next().then();
        });
    }

    /**
     * A table's new columns, added to the target of every sink that follows them ({@link TableColumns});
     * a sink that cannot (a table it does not manage) gets a dead letter with the statement to run.
     */
    private Mono<Void> addColumns(ChangeDecoder.Reshaped n) {
        List<TableDigest.Column> columns = new ArrayList<>();
        for (int i : n.added()) {
            columns.add(TextValues.column(n.table().columns[i], n.table().types[i], n.table().typeModifiers[i]));
        }
        return Mono.defer(() -> Flux.fromIterable(options.sinks().get())
                .filter(TableColumns.class::isInstance)
                .concatMap(sink -> ((TableColumns) sink).addColumns(n.table().id, columns)
                        .onErrorResume(e -> !isFaultOfTheTarget(e), e -> {
                            refuse(new ChangeDecoder.Refused(n.table(), n.commitLsn(), "schema", "new column(s) "
                                    + columns.stream().map(TableDigest.Column::name).toList() + " of table "
                                    + n.table().name + " not added to sink " + sink.name() + ": " + e.getMessage(),
                                    "ALTER TABLE " + n.table().name + " ADD COLUMN ..."));
                            return Mono.empty();
                        }))
                .then());
    }

    /**
     * Applies a truncate (once every chunk emitted before it was acknowledged, so that no earlier row
     * reaches a target after it) to every sink that is a {@link TableTruncate}: the rows of versions below the
     * truncating transaction's go; a sink that cannot gets a dead letter, one whose server is down fails the
     * run (the truncate is read again after the restart).
     */
    private Mono<Void> truncate(ChangeDecoder.Refused t) {
        return removeBelow(t.table(), t.commitLsn() << ChangeDecoder.SLICE_BITS,
                sink -> log.info("{}: TRUNCATE of table {} applied to sink {}", options.name(), t.table().name, sink.name()),
                (sink, why) -> refuse(new ChangeDecoder.Refused(t.table(), t.commitLsn(), t.cause(), why == null
                        ? t.reason().replace("the targets", "sink " + sink.name())
                        : "TRUNCATE of table " + t.table().name + " not applied to sink " + sink.name() + ": " + why,
                        t.record())));
    }

    /**
     * A fault of the whole target (its server down past the sink's retries): it fails the run, which reads
     * the change again after the restart, instead of costing a dead letter.
     */
    private static boolean isFaultOfTheTarget(Throwable e) {
        return e instanceof PipelineException p && p.isRetryable();
    }

    /** One dead letter per refused change, at its commit's LSN (a replay of it is recognised as the same). */
    private void refuse(ChangeDecoder.Refused r) {
        log.warn("{}: {}", options.name(), r.reason());
        source.deadLetters.incrementAndGet();
        source.notes.put(r.table().name.toString(), "last refused change: " + r.reason());
        if (options.deadLetters() != null) {
            options.deadLetters().append(List.of(new DeadLetter(options.name(), "source", options.slot(),
                    r.commitLsn(), r.table().id, "", r.cause(), r.reason(), r.record())));
        }
    }

    /** Reads the values the WAL left out, by key, table by table, {@value #KEYS_PER_READ} keys per query. */
    private Mono<Void> readUnchanged(List<ChangeDecoder.Row> rows) {
        Map<TableShape, List<ChangeDecoder.Row>> byTable = new LinkedHashMap<>();
        rows.forEach(r -> byTable.computeIfAbsent(r.table(), t -> new ArrayList<>()).add(r));
        return Flux.fromIterable(byTable.entrySet())
                .concatMap(e -> Flux.fromIterable(partition(e.getValue())).concatMap(part -> readUnchanged(e.getKey(), part)))
                .then();
    }

    private static List<List<ChangeDecoder.Row>> partition(List<ChangeDecoder.Row> rows) {
        List<List<ChangeDecoder.Row>> parts = new ArrayList<>();
        for (int i = 0; i < rows.size(); i += KEYS_PER_READ) {
            parts.add(rows.subList(i, Math.min(rows.size(), i + KEYS_PER_READ)));
        }
        return parts;
    }

    private Mono<Void> readUnchanged(TableShape table, List<ChangeDecoder.Row> rows) {
        TableShape catalogShape = catalog.get(table.name.toString());
        StringBuilder q = new StringBuilder("SELECT ");
        for (int i = 0; i < table.columns.length; i++) {
            q.append(i == 0 ? "" : ", ").append(TableName.quote(table.columns[i])).append("::text");
        }
        q.append(" FROM ").append(table.name.sql()).append(" t WHERE (");
        Sql.keyList(q, table);
        q.append(") IN (");
        List<String> params = new ArrayList<>();
        for (int r = 0; r < rows.size(); r++) {
            q.append(r == 0 ? "(" : ", (");
            for (int i = 0; i < table.key.length; i++) {
                String type = table.sqlTypes[table.key[i]] != null ? table.sqlTypes[table.key[i]]
                        : catalogShape.sqlTypes[catalogShape.indexOf(table.columns[table.key[i]])];
                params.add(rows.get(r).keyText()[i]);
                q.append(i == 0 ? "" : ", ").append("CAST($").append(params.size()).append(" AS ").append(type).append(')');
            }
            q.append(')');
        }
        q.append(')');
        Map<List<String>, String[]> found = new HashMap<>();
        return rows(q.toString(), params.toArray())
                .doOnNext(text -> found.put(List.of(table.keyText(text)), text))
                .then(Mono.fromRunnable(() -> {
                    for (ChangeDecoder.Row row : rows) {
                        String[] text = found.get(List.of(row.keyText()));
                        BitSet missing = row.unchanged();
                        for (int i = missing.nextSetBit(0); i >= 0; i = missing.nextSetBit(i + 1)) {
                            // a row gone since: its delete follows in the stream
                            row.values()[i] = text == null || i >= text.length ? null : TextValues.convert(table.types[i], text[i]);
                        }
                    }
                }));
    }

    // --- SQL helpers: every value is read as text

    private Mono<String> one(String query) {
        return sql.createStatement(query).execute()
                .concatMap(r -> r.map((row, meta) -> row.get(0, String.class))).next();
    }

    private Flux<String[]> rows(String query, Object... params) {
        return rows(query, 0, params);
    }

    private Flux<String[]> rows(String query, int fetchSize, Object... params) {
        return Sql.rows(sql, sqlLoop, query, fetchSize, params);
    }

    private Mono<Void> execute(String statement) {
        return Sql.execute(sql, statement);
    }

    /**
     * Ends the stream and its connection (and the server's walsender, if it still holds the slot: a
     * connection the driver gave up on may never have told the server), then moves the slot to the last
     * confirmed LSN itself, in case the stream's last status update did not carry it (it is sent every
     * {@code statusInterval}).
     */
    Mono<Void> close() {
        // Not the stream's own close(): once its Flux was cancelled, that subscribes to it again
        // (and fails); closing the connection ends the stream and the server's walsender.
        source.stream = null;
        if (source.session == this) {
            source.session = null;
        }
        endResyncs();
        // a resync not finished is abandoned with the run
        source.resyncRows.clear();
        source.resyncWritten.values().forEach(w -> w.tryEmitError(new IllegalStateException("the run ended first")));
        source.resyncWritten.clear();
        if (slotPoll != null) {
            slotPoll.dispose();
        }
        if (heartbeats != null) {
            heartbeats.dispose();
        }
        Mono<Void> closeReplication = replication == null ? Mono.empty()
                : replication.close().timeout(CLOSE_TIMEOUT).onErrorResume(e -> Mono.empty());
        return closeReplication
                .then(endWalsender())
                .then(advanceSlot())
                .then(sql.close().onErrorResume(e -> Mono.empty()));
    }

    /** Ends this session's walsender if it still holds the slot once the replication connection is closed. */
    private Mono<Void> endWalsender() {
        String pid = walsender;
        if (pid == null) {
            return Mono.empty();
        }
        return rows("SELECT pg_terminate_backend(active_pid)::text FROM pg_replication_slots "
                + "WHERE slot_name = $1 AND active_pid = CAST($2 AS int)", options.slot(), pid)
                .filter(r -> "true".equals(r[0]))
                .doOnNext(r -> log.warn("{}: the walsender (pid {}) still held replication slot {} after its "
                        + "connection was closed; ended it", options.name(), pid, options.slot()))
                .then()
                .timeout(CLOSE_TIMEOUT)
                .onErrorResume(e -> Mono.empty());
    }

    /** {@code pg_replication_slot_advance} to the confirmed LSN once the slot is released (retried briefly). */
    private Mono<Void> advanceSlot() {
        long lsn = source.confirmed.get();
        if (lsn <= 0) {
            return Mono.empty();
        }
        String target = PgOutput.lsn(lsn);
        return rows("SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn)::text FROM pg_replication_slots "
                + "WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2::pg_lsn", options.slot(), target)
                .then()
                .retryWhen(Retry.fixedDelay(20, Duration.ofMillis(100)))
                .timeout(CLOSE_TIMEOUT)
                .onErrorResume(e -> {
                    log.warn("{}: could not move slot {} to {} on close ({}); the next run reads again from the "
                            + "position last sent", options.name(), options.slot(), target, e.toString());
                    return Mono.empty();
                });
    }
}
