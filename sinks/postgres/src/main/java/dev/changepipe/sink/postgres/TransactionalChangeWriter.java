package dev.changepipe.sink.postgres;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.SinkException;
import io.r2dbc.postgresql.api.PostgresqlException;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.R2dbcException;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.Result;
import io.r2dbc.spi.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The {@link ChangeWriter} over R2DBC. For a batch of chunks it takes one connection from the factory
 * (a pool), makes sure the tombstone table exists and that every table of the batch is introspected
 * (both outside the transaction, once per sink), converts every item (a value that does not convert
 * is refused before anything is sent), then in one transaction applies the items in steps, one after
 * the other:
 *
 * <ul>
 *   <li>The items are cut into <b>segments</b>: consecutive items of one table with distinct keys (a
 *       key seen again, or another table, starts the next segment). So no statement touches a row
 *       twice, each key's changes keep their order, and the order across tables is the log's.
 *   <li>Within a segment, the deletes go first, as one statement, when the table allows it
 *       ({@link TargetTable#deletesFirst()}: no user trigger, no self-referencing foreign key that is
 *       immediate or acts on delete). The changes concern distinct rows, so the end state is the
 *       same; a delete that goes earlier only frees unique values sooner, which is what the Django
 *       pattern (delete, then save a new pk with the same unique value) needs. Otherwise the deletes
 *       stay where they are.
 *   <li>The rest is sent as runs of consecutive changes of one shape (same kind and columns), each run
 *       one statement whose values are bound as arrays (one {@code text[]} per column,
 *       {@code unnest}ed on the server): one round trip and one prepared statement per shape whatever
 *       the number of rows.
 * </ul>
 *
 * <p>Refused items (see {@link #apply}) become dead letters when the sink has a store, stored after
 * the commit and before the write completes. On any other error the transaction is rolled back, the table cache is cleared (a retry sees schema
 * changes) and the error is classified by {@link Faults}.
 *
 * <p>Not thread safe for concurrent writes of the same sink, which the {@code Sink} contract rules out;
 * the caches are concurrent maps all the same.
 */
final class TransactionalChangeWriter implements ChangeWriter {

    private static final Logger log = LoggerFactory.getLogger(TransactionalChangeWriter.class);

    private final ConnectionFactory connections;
    private final PostgresSinkOptions options;
    private final Change.Builder changes;
    private final Map<String, TargetTable> tables = new ConcurrentHashMap<>();
    private volatile boolean tombstoneTableReady;

    TransactionalChangeWriter(ConnectionFactory connections, PostgresSinkOptions options) {
        this.connections = connections;
        this.options = options;
        this.changes = new Change.Builder(options.name(), options.schema(), options.tombstoneTable(),
                options.strictColumns());
    }

    @Override
    public Mono<Void> write(List<Chunk> batch) {
        List<ChangeItem> items = new ArrayList<>();
        for (Chunk chunk : batch) {
            items.addAll(chunk.items());
        }
        if (items.isEmpty()) {
            return Mono.empty();
        }
        return Mono.usingWhen(
                        Mono.from(connections.create())
                                .onErrorMap(e -> Faults.wrap(options.name(), null, "connecting", e)),
                        connection -> prepare(connection, items).flatMap(plan -> apply(connection, plan)),
                        this::release,
                        (connection, error) -> release(connection),
                        connection -> Mono.from(connection.rollbackTransaction())
                                .onErrorResume(e -> {
                                    log.debug("sink {}: rollback after cancel failed: {}", options.name(), e.toString());
                                    return Mono.empty();
                                })
                                .then(release(connection)))
                .doOnError(e -> {
                    tables.clear();
                    changes.clear();
                })
                .flatMap(refused -> deadLetters(batch, refused));
    }

    /**
     * Introspects what is missing and converts the items into runs of statements. When the sink
     * dead-letters refused items, an unknown table or an item that does not convert is set aside as
     * refused instead of failing the write.
     */
    private Mono<Plan> prepare(Connection connection, List<ChangeItem> items) {
        Set<String> missing = new LinkedHashSet<>();
        for (ChangeItem item : items) {
            if (!tables.containsKey(item.table())) {
                missing.add(item.table());
            }
        }
        Map<String, BadRecordException> unknown = new HashMap<>();
        return ensureTombstoneTable(connection)
                .thenMany(Flux.fromIterable(missing).concatMap(table -> introspect(connection, table)
                        .onErrorResume(e -> e instanceof BadRecordException && options.isolating(), e -> {
                            unknown.put(table, (BadRecordException) e);
                            return Mono.empty();
                        })))
                .doOnNext(t -> tables.put(t.sourceTable(), t))
                .then(Mono.fromCallable(() -> plan(items, unknown)));
    }

    /**
     * The statements of a batch, in order: its items cut into segments (consecutive items of one table
     * with distinct keys), each segment's deletes first when its table allows, then runs of
     * consecutive changes of one shape (see the class description). Items refused for their own
     * content are left out when the sink dead-letters them, and fail the write otherwise.
     */
    private Plan plan(List<ChangeItem> items, Map<String, BadRecordException> unknownTables) {
        List<Run> runs = new ArrayList<>();
        List<Refusal> refused = new ArrayList<>();
        Segment segment = new Segment();
        Set<String> keys = new HashSet<>();
        TargetTable segmentTable = null;
        for (ChangeItem item : items) {
            BadRecordException bad = unknownTables.get(item.table());
            Change change = null;
            TargetTable table = tables.get(item.table());
            if (bad == null) {
                try {
                    change = changes.build(table, item);
                } catch (BadRecordException e) {
                    if (!options.isolating()) {
                        throw e;
                    }
                    bad = e;
                }
            }
            if (bad != null) {
                refused.add(new Refusal(item, bad.category(), bad.getMessage()));
                continue;
            }
            if (table != segmentTable || !keys.add(change.rowKey())) {
                addSegment(runs, segment);
                segment = new Segment();
                keys.clear();
                keys.add(change.rowKey());
                segmentTable = table;
            }
            segment.add(change, item);
        }
        addSegment(runs, segment);
        return new Plan(runs, refused);
    }

    private static void addSegment(List<Run> runs, Segment segment) {
        if (segment.changes.isEmpty()) {
            return;
        }
        Segment rest = segment;
        if (segment.changes.get(0).shape().table().deletesFirst()) {
            Map<Change.Shape, Run> deletes = new LinkedHashMap<>();
            rest = new Segment();
            for (int i = 0; i < segment.changes.size(); i++) {
                Change change = segment.changes.get(i);
                if (change.shape().save()) {
                    rest.add(change, segment.items.get(i));
                } else {
                    deletes.computeIfAbsent(change.shape(), Run::new).add(change, segment.items.get(i));
                }
            }
            runs.addAll(deletes.values());
        }
        Run current = null;
        for (int i = 0; i < rest.changes.size(); i++) {
            Change change = rest.changes.get(i);
            if (current == null || current.shape != change.shape()) {
                current = new Run(change.shape());
                runs.add(current);
            }
            current.add(change, rest.items.get(i));
        }
    }

    /**
     * Applies the plan in one transaction; completes with the items refused (set aside while planning,
     * or refused by the server). The common case sends the runs as they are. When the sink
     * dead-letters refused items and a statement (or the commit, for a deferred constraint) fails for
     * a row's content (SQLSTATE class 22 or 23), the transaction is rolled back and the batch applied
     * again with each run under a savepoint, a failing run halved until the rows at fault are found.
     */
    private Mono<List<Refusal>> apply(Connection connection, Plan plan) {
        if (plan.runs.isEmpty()) {
            return Mono.just(plan.refused);
        }
        Mono<List<Refusal>> fast = inTransaction(connection, plan.runs, false, null).thenReturn(plan.refused);
        if (!options.isolating()) {
            return fast;
        }
        return fast.onErrorResume(TransactionalChangeWriter::isRowLevel, e -> {
            log.debug("sink {}: a row was refused ({}); finding it", options.name(), e.getMessage());
            List<Refusal> refused = new ArrayList<>(plan.refused);
            return inTransaction(connection, plan.runs, false, refused)
                    .onErrorResume(TransactionalChangeWriter::isRowLevel, again -> {
                        // Only the commit can fail for a row here: a deferred constraint. Check each
                        // statement's rows at once instead (a row whose parent comes later is tried
                        // again at the end).
                        refused.subList(plan.refused.size(), refused.size()).clear();
                        return inTransaction(connection, plan.runs, true, refused);
                    })
                    .thenReturn(refused);
        });
    }

    /** Whether the error is a row's fault: a data exception (class 22) or a constraint violation (23). */
    static boolean isRowLevel(Throwable error) {
        String state = Faults.sqlState(error);
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    /**
     * Runs the statements in one transaction and commits. With {@code refused} (the fallback), each
     * run goes under a savepoint and the rows the server refuses are added to it; with
     * {@code immediate}, deferred constraints are checked at each statement.
     */
    private Mono<Void> inTransaction(Connection connection, List<Run> runs, boolean immediate, List<Refusal> refused) {
        Mono<Void> begin = Mono.from(connection.beginTransaction())
                .onErrorMap(e -> Faults.wrap(options.name(), null, "beginning a transaction", e));
        if (immediate) {
            begin = begin.then(simple(connection, "SET CONSTRAINTS ALL IMMEDIATE"));
        }
        List<Run> postponed = refused == null ? null : new ArrayList<>();
        return begin
                .thenMany(Flux.fromIterable(runs).concatMap(run -> refused == null ? execute(connection, run)
                        : guarded(connection, run, refused, postponed), 0))
                .thenMany(Flux.defer(() -> postponed == null ? Flux.empty() : Flux.fromIterable(postponed))
                        .concatMap(row -> guarded(connection, row, refused, null), 0))
                .then(Mono.defer(() -> Mono.from(connection.commitTransaction())
                        .onErrorMap(e -> Faults.wrap(options.name(), null, "committing", e))))
                .onErrorResume(error -> Mono.from(connection.rollbackTransaction())
                        .onErrorResume(rollbackError -> {
                            // The connection is likely gone; the server rolls back on its own.
                            error.addSuppressed(rollbackError);
                            return Mono.empty();
                        })
                        .then(Mono.error(error)));
    }

    /**
     * Runs a statement under a savepoint; when the server refuses one of its rows, rolls back to the
     * savepoint and runs each half the same way, down to the single row, which is refused, or, for a
     * foreign key violation when {@code postponed} is given, tried once more after the other rows (its
     * parent may come later in the batch; versions and tombstones make the later attempt end as
     * applying in order would).
     */
    private Mono<Void> guarded(Connection connection, Run run, List<Refusal> refused, List<Run> postponed) {
        return simple(connection, "SAVEPOINT changepipe_rows")
                .then(execute(connection, run))
                .then(simple(connection, "RELEASE SAVEPOINT changepipe_rows"))
                .onErrorResume(TransactionalChangeWriter::isRowLevel, e -> simple(connection,
                        "ROLLBACK TO SAVEPOINT changepipe_rows; RELEASE SAVEPOINT changepipe_rows")
                        .then(Mono.defer(() -> {
                            int n = run.changes.size();
                            if (n == 1) {
                                if (postponed != null && "23503".equals(Faults.sqlState(e))) {
                                    postponed.add(run);
                                } else {
                                    refused.add(refusal(run, e));
                                }
                                return Mono.empty();
                            }
                            return guarded(connection, run.slice(0, n / 2), refused, postponed)
                                    .then(guarded(connection, run.slice(n / 2, n), refused, postponed));
                        })));
    }

    /** The refusal of a run's single row by the server, naming table, column (when known), key and version. */
    private Refusal refusal(Run run, Throwable error) {
        ChangeItem item = run.items.get(0);
        String state = Faults.sqlState(error);
        StringBuilder reason = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof R2dbcException r) {
                reason.append(r.getMessage());
                if (r instanceof PostgresqlException pg) {
                    pg.getErrorDetails().getColumnName().ifPresent(c -> reason.append(" (column ").append(Sql.quote(c))
                            .append(')'));
                    pg.getErrorDetails().getDetail().ifPresent(d -> reason.append(": ").append(d));
                }
                break;
            }
        }
        if (reason.length() == 0) {
            reason.append(error.getMessage());
        }
        String message = "sink " + options.name() + ", table " + item.table() + ": " + run.shape.table().qualifiedName()
                + " refused the " + (run.shape.save() ? "save" : "delete") + " of key " + item.key() + ", version "
                + item.version() + " (SQLSTATE " + state + "): " + reason;
        return new Refusal(item, state.startsWith("23") ? "constraint" : "conversion", message);
    }

    /** Sends SQL without parameters (a savepoint, a setting). */
    private Mono<Void> simple(Connection connection, String sql) {
        return Flux.from(connection.createStatement(sql).execute())
                .concatMap(Result::getRowsUpdated)
                .then()
                .onErrorMap(e -> Faults.wrap(options.name(), null, sql, e));
    }

    /** Stores the refused items as dead letters, durably; completes once they are. */
    private Mono<Void> deadLetters(List<Chunk> batch, List<Refusal> refused) {
        if (refused.isEmpty()) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> {
            Map<ChangeItem, String> originOf = new IdentityHashMap<>();
            for (Chunk chunk : batch) {
                for (ChangeItem item : chunk.items()) {
                    originOf.put(item, chunk.origin());
                }
            }
            DeadLetterStore store = options.deadLetters();
            List<DeadLetter> letters = new ArrayList<>(refused.size());
            for (Refusal r : refused) {
                letters.add(DeadLetter.ofItem(store.pipeline(), options.name(), originOf.getOrDefault(r.item, ""),
                        r.item, r.cause, r.reason));
            }
            int stored = store.append(letters);
            log.debug("sink {}: {} item(s) refused, {} new dead letter(s)", options.name(), letters.size(), stored);
            return stored;
        }).subscribeOn(Schedulers.boundedElastic()).then();
    }

    /**
     * Sends a run as one statement: per column an array of the rows' values, then the versions, the
     * row keys and the table's name in the tombstone table.
     */
    private Mono<Void> execute(Connection connection, Run run) {
        String table = run.shape.table().sourceTable();
        return Mono.defer(() -> {
                    List<Change> rows = run.changes;
                    int columns = run.shape.columns().size();
                    Statement statement = connection.createStatement(changes.sql(run.shape));
                    for (int c = 0; c < columns; c++) {
                        String[] values = new String[rows.size()];
                        for (int r = 0; r < values.length; r++) {
                            values[r] = rows.get(r).values()[c];
                        }
                        statement.bind(c, values);
                    }
                    Long[] versions = new Long[rows.size()];
                    String[] rowKeys = new String[rows.size()];
                    for (int r = 0; r < versions.length; r++) {
                        versions[r] = rows.get(r).version();
                        rowKeys[r] = rows.get(r).rowKey();
                    }
                    statement.bind(columns, versions);
                    statement.bind(columns + 1, rowKeys);
                    statement.bind(columns + 2, run.shape.table().qualifiedName());
                    return Flux.from(statement.execute()).concatMap(Result::getRowsUpdated).then();
                })
                .onErrorMap(e -> Faults.wrap(options.name(), table,
                        "applying " + run.changes.size() + " change(s) of " + table, e));
    }

    private Mono<Void> ensureTombstoneTable(Connection connection) {
        if (tombstoneTableReady) {
            return Mono.empty();
        }
        return Flux.from(connection.createStatement(Sql.createTombstoneTable(options.schema(), options.tombstoneTable()))
                        .execute())
                .concatMap(Result::getRowsUpdated)
                .then()
                .onErrorResume(e -> {
                    String state = Faults.sqlState(e);
                    // Two sinks creating it at once: one of them loses the race on the catalog.
                    return "23505".equals(state) || "42P07".equals(state) ? Mono.empty() : Mono.error(e);
                })
                .onErrorMap(e -> Faults.wrap(options.name(), null,
                        "creating the tombstone table " + Sql.qualified(options.schema(), options.tombstoneTable()), e))
                .doOnSuccess(v -> tombstoneTableReady = true);
    }

    private Mono<TargetTable> introspect(Connection connection, String sourceTable) {
        TableOverride override = options.override(sourceTable);
        String name = override.targetTable() != null ? override.targetTable() : TargetTable.conventionalName(sourceTable);
        String qualified = Sql.qualified(options.schema(), name);
        return Flux.from(connection.createStatement(Sql.introspectColumns())
                        .bind(0, options.schema())
                        .bind(1, name)
                        .execute())
                .concatMap(result -> result.map((row, meta) -> TargetTable.column(row.get(0, String.class),
                        row.get(1, String.class), row.get(2, String.class), row.get(3, Integer.class))))
                .collectList()
                .onErrorMap(e -> Faults.wrap(options.name(), sourceTable, "introspecting " + qualified, e))
                .flatMap(columns -> {
                    if (columns.isEmpty()) {
                        return unknownTable(connection, sourceTable, qualified);
                    }
                    Map<String, TargetTable.Column> byName = new LinkedHashMap<>();
                    columns.forEach(c -> byName.put(c.name(), c));
                    for (String column : override.columns().values()) {
                        if (!byName.containsKey(column)) {
                            return Mono.error(SinkException.permanent(options.name(), sourceTable, column,
                                    "the override maps a field to column '" + column + "', which " + qualified
                                            + " does not have", null));
                        }
                    }
                    return deletesFirst(connection, name).flatMap(deletesFirst -> {
                        TargetTable table = new TargetTable(sourceTable, options.schema(), name,
                                options.versionColumn(), byName, override, deletesFirst);
                        if (table.hasVersionColumn()) {
                            return Mono.just(table);
                        }
                        return addVersionColumn(connection, table, byName);
                    });
                });
    }

    /**
     * The error of a table that is not there: a bad record (its items become dead letters) when the
     * schema exists, a fault of the whole target naming the schema when it does not.
     */
    private Mono<TargetTable> unknownTable(Connection connection, String sourceTable, String qualified) {
        return Flux.from(connection.createStatement(Sql.schemaExists()).bind(0, options.schema()).execute())
                .concatMap(result -> result.map((row, meta) -> Boolean.TRUE.equals(row.get(0, Boolean.class))))
                .next()
                .defaultIfEmpty(false)
                .onErrorMap(e -> Faults.wrap(options.name(), sourceTable, "looking up the schema "
                        + Sql.quote(options.schema()), e))
                .flatMap(schemaExists -> Mono.error(schemaExists
                        ? new BadRecordException("unknown-table", options.name(), sourceTable, null,
                                "unknown table " + qualified + " (source table " + sourceTable
                                        + "; map it with PostgresSinkOptions.Builder.table)", null)
                        : SinkException.permanent(options.name(), sourceTable, null, "the schema "
                                + Sql.quote(options.schema()) + " does not exist in the target database", null)));
    }

    /** Whether deletes of the table may go before its saves of other keys ({@link Sql#introspectDeleteOrder()}). */
    private Mono<Boolean> deletesFirst(Connection connection, String table) {
        return Flux.from(connection.createStatement(Sql.introspectDeleteOrder())
                        .bind(0, options.schema())
                        .bind(1, table)
                        .execute())
                .concatMap(result -> result.map((row, meta) -> Boolean.TRUE.equals(row.get(0, Boolean.class))))
                .next()
                .defaultIfEmpty(false)
                .onErrorMap(e -> Faults.wrap(options.name(), table, "introspecting the foreign keys and triggers of "
                        + Sql.qualified(options.schema(), table), e));
    }

    private Mono<TargetTable> addVersionColumn(Connection connection, TargetTable table,
            Map<String, TargetTable.Column> columns) {
        if (!options.addVersionColumn()) {
            return Mono.error(SinkException.permanent(options.name(), table.sourceTable(), options.versionColumn(),
                    table.qualifiedName() + " has no version column " + Sql.quote(options.versionColumn())
                            + " and addVersionColumn is off", null));
        }
        log.info("sink {}: adding the version column {} to {}", options.name(), Sql.quote(options.versionColumn()),
                table.qualifiedName());
        return Flux.from(connection.createStatement(Sql.addVersionColumn(table)).execute())
                .concatMap(Result::getRowsUpdated)
                .then(Mono.fromCallable(() -> {
                    Map<String, TargetTable.Column> withVersion = new LinkedHashMap<>(columns);
                    withVersion.put(options.versionColumn(),
                            TargetTable.column(options.versionColumn(), "pg_catalog", "int8", null));
                    return new TargetTable(table.sourceTable(), table.schema(), table.name(), options.versionColumn(),
                            withVersion, options.override(table.sourceTable()), table.deletesFirst());
                }))
                .onErrorMap(e -> Faults.wrap(options.name(), table.sourceTable(),
                        "adding the version column to " + table.qualifiedName(), e));
    }

    private Mono<Void> release(Connection connection) {
        return Mono.from(connection.close())
                .onErrorResume(e -> {
                    log.warn("sink {}: closing a connection failed: {}", options.name(), e.toString());
                    return Mono.empty();
                });
    }

    /** Changes of one shape with distinct keys, sent as one statement, with their items. */
    private record Run(Change.Shape shape, List<Change> changes, List<ChangeItem> items) {

        Run(Change.Shape shape) {
            this(shape, new ArrayList<>(), new ArrayList<>());
        }

        void add(Change change, ChangeItem item) {
            changes.add(change);
            items.add(item);
        }

        Run slice(int from, int to) {
            return new Run(shape, changes.subList(from, to), items.subList(from, to));
        }
    }

    /** Consecutive changes of one table with distinct keys, with their items. */
    private static final class Segment {
        final List<Change> changes = new ArrayList<>();
        final List<ChangeItem> items = new ArrayList<>();

        void add(Change change, ChangeItem item) {
            changes.add(change);
            items.add(item);
        }
    }

    /** The runs of a batch, and the items refused before anything was sent. */
    private record Plan(List<Run> runs, List<Refusal> refused) {
    }

    /** An item the sink refuses, with the dead letter's cause and reason. */
    private record Refusal(ChangeItem item, String cause, String reason) {
    }
}
