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
 * the chunk before anything is sent), then in one transaction executes the items in order: runs of
 * consecutive items of one shape (same table, kind and columns) with distinct keys are sent as
 * multi-row statements, one after the other; a key seen again within a run starts the next run, so
 * no statement touches a row twice and every key's changes keep their order. On any error the transaction is rolled back, the table cache is cleared
 * (a retry sees schema changes) and the error is classified by {@link Faults}.
 *
 * <p>Not thread safe for concurrent writes of the same sink, which the {@code Sink} contract rules out;
 * the caches are concurrent maps all the same.
 */
final class TransactionalChangeWriter implements ChangeWriter {

    private static final Logger log = LoggerFactory.getLogger(TransactionalChangeWriter.class);

    /** Rows per multi-row statement, largest first. */
    private static final int[] STATEMENT_ROWS = {128, 32, 8, 1};
    /** The protocol allows 65535 parameters per statement; stay well below. */
    private static final int MAX_PARAMETERS = 30_000;

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
     * Groups consecutive changes of one shape whose keys are distinct (a key seen again starts a new
     * run, so that one statement never touches a row twice and the order per key is kept).
     */
    private List<Run> runs(List<ChangeItem> items) {
        List<Run> runs = new ArrayList<>();
        Run current = null;
        Set<String> keys = new HashSet<>();
        for (ChangeItem item : items) {
            TargetTable table = tables.get(item.table());
            Change change = changes.build(table, item);
            if (current == null || current.shape != change.shape() || !keys.add(change.rowKey())) {
                current = new Run(change.shape(), new ArrayList<>());
                runs.add(current);
                keys.clear();
                keys.add(change.rowKey());
            }
            current.changes.add(change);
        }
        return runs;
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
     * Sends a run as multi-row statements of {@link #STATEMENT_ROWS} sizes (largest first), so a few
     * prepared statements per shape serve runs of any length; one after the other, in order.
     */
    private Mono<Void> execute(Connection connection, Run run) {
        List<List<Change>> statements = new ArrayList<>();
        int at = 0;
        int perRow = run.changes.get(0).parameters().length;
        while (at < run.changes.size()) {
            int remaining = run.changes.size() - at;
            int rows = 1;
            for (int size : STATEMENT_ROWS) {
                if (size <= remaining && size * perRow <= MAX_PARAMETERS) {
                    rows = size;
                    break;
                }
            }
            statements.add(run.changes.subList(at, at + rows));
            at += rows;
        }
        String table = run.shape.table().sourceTable();
        return Flux.fromIterable(statements)
                .concatMap(rows -> Mono.defer(() -> {
                    Statement statement = connection.createStatement(changes.sql(run.shape, rows.size()));
                    int index = 0;
                    for (Change change : rows) {
                        Object[] parameters = change.parameters();
                        for (int i = 0; i < parameters.length; i++, index++) {
                            if (parameters[i] == null) {
                                statement.bindNull(index, change.nullTypes()[i]);
                            } else {
                                statement.bind(index, parameters[i]);
                            }
                        }
                    }
                    return Flux.from(statement.execute()).concatMap(Result::getRowsUpdated).then();
                }), 0)
                .then()
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
                    TargetTable table = new TargetTable(sourceTable, options.schema(), name, options.versionColumn(),
                            byName, override);
                    if (table.hasVersionColumn()) {
                        return Mono.just(table);
                    }
                    return addVersionColumn(connection, table, byName);
                });
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
                            withVersion, options.override(table.sourceTable()));
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

    /** Consecutive changes of one shape with distinct keys. */
    private record Run(Change.Shape shape, List<Change> changes) {
    }
}
