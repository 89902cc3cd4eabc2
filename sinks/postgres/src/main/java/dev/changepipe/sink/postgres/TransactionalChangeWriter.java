package dev.changepipe.sink.postgres;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.SinkException;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.Result;
import io.r2dbc.spi.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The {@link ChangeWriter} over R2DBC. For a chunk it takes one connection from the factory (a pool),
 * makes sure the tombstone table exists and that every table of the chunk is introspected (both
 * outside the transaction, once per sink), converts every item (a value that does not convert fails
 * the chunk before anything is sent), then in one transaction applies the items in steps, one after
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
 * <p>On any error the transaction is rolled back, the table cache is cleared (a retry sees schema
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
    public Mono<Void> write(List<ChangeItem> items) {
        if (items.isEmpty()) {
            return Mono.empty();
        }
        return Mono.usingWhen(
                        Mono.from(connections.create())
                                .onErrorMap(e -> Faults.wrap(options.name(), null, "connecting", e)),
                        connection -> prepare(connection, items).flatMap(runs -> inTransaction(connection, runs)),
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
                });
    }

    /** Introspects what is missing and converts the items into runs of statements. */
    private Mono<List<Run>> prepare(Connection connection, List<ChangeItem> items) {
        Set<String> missing = new LinkedHashSet<>();
        for (ChangeItem item : items) {
            if (!tables.containsKey(item.table())) {
                missing.add(item.table());
            }
        }
        return ensureTombstoneTable(connection)
                .thenMany(Flux.fromIterable(missing).concatMap(table -> introspect(connection, table)))
                .doOnNext(t -> tables.put(t.sourceTable(), t))
                .then(Mono.fromCallable(() -> runs(items)));
    }

    /**
     * The statements of a chunk, in order: its items cut into segments (consecutive items of one table
     * with distinct keys), each segment's deletes first when its table allows, then runs of
     * consecutive changes of one shape (see the class description).
     */
    private List<Run> runs(List<ChangeItem> items) {
        List<Run> runs = new ArrayList<>();
        List<Change> segment = new ArrayList<>();
        Set<String> keys = new HashSet<>();
        TargetTable segmentTable = null;
        for (ChangeItem item : items) {
            TargetTable table = tables.get(item.table());
            Change change = changes.build(table, item);
            if (table != segmentTable || !keys.add(change.rowKey())) {
                addSegment(runs, segment);
                segment = new ArrayList<>();
                keys.clear();
                keys.add(change.rowKey());
                segmentTable = table;
            }
            segment.add(change);
        }
        addSegment(runs, segment);
        return runs;
    }

    private static void addSegment(List<Run> runs, List<Change> segment) {
        if (segment.isEmpty()) {
            return;
        }
        List<Change> rest = segment;
        if (segment.get(0).shape().table().deletesFirst()) {
            Map<Change.Shape, Run> deletes = new LinkedHashMap<>();
            rest = new ArrayList<>(segment.size());
            for (Change change : segment) {
                if (change.shape().save()) {
                    rest.add(change);
                } else {
                    deletes.computeIfAbsent(change.shape(), shape -> new Run(shape, new ArrayList<>()))
                            .changes.add(change);
                }
            }
            runs.addAll(deletes.values());
        }
        Run current = null;
        for (Change change : rest) {
            if (current == null || current.shape != change.shape()) {
                current = new Run(change.shape(), new ArrayList<>());
                runs.add(current);
            }
            current.changes.add(change);
        }
    }

    private Mono<Void> inTransaction(Connection connection, List<Run> runs) {
        return Mono.from(connection.beginTransaction())
                .onErrorMap(e -> Faults.wrap(options.name(), null, "beginning a transaction", e))
                .thenMany(Flux.fromIterable(runs).concatMap(run -> execute(connection, run), 0))
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
                        return Mono.error(SinkException.permanent(options.name(), sourceTable, null,
                                "unknown table " + qualified + " (source table " + sourceTable
                                        + "; map it with PostgresSinkOptions.Builder.table)", null));
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

    /** Changes of one shape with distinct keys, sent as one statement. */
    private record Run(Change.Shape shape, List<Change> changes) {
    }
}
