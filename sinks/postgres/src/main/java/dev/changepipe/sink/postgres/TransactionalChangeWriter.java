package dev.changepipe.sink.postgres;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.SinkException;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.Result;
import io.r2dbc.spi.Statement;
import java.util.ArrayList;
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

/**
 * The {@link ChangeWriter} over R2DBC. For a chunk it takes one connection from the factory (a pool),
 * makes sure the tombstone table exists and that every table of the chunk is introspected (both
 * outside the transaction, once per sink), converts every item (a value that does not convert fails
 * the chunk before anything is sent), then in one transaction executes the items in order: runs of
 * consecutive items with the same statement (same table, kind and columns) are sent as one statement
 * with one binding per item. On any error the transaction is rolled back, the table cache is cleared
 * (a retry sees schema changes) and the error is classified by {@link Faults}.
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
                .doOnError(e -> tables.clear());
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

    private List<Run> runs(List<ChangeItem> items) {
        List<Run> runs = new ArrayList<>();
        Run current = null;
        for (ChangeItem item : items) {
            TargetTable table = tables.get(item.table());
            Change change = changes.build(table, item);
            if (current == null || !current.sql.equals(change.sql())) {
                current = new Run(change.sql(), table.sourceTable(), new ArrayList<>());
                runs.add(current);
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

    private Mono<Void> execute(Connection connection, Run run) {
        return Mono.defer(() -> {
            Statement statement = connection.createStatement(run.sql);
            for (int j = 0; j < run.changes.size(); j++) {
                if (j > 0) {
                    statement.add();
                }
                Change change = run.changes.get(j);
                Object[] parameters = change.parameters();
                for (int i = 0; i < parameters.length; i++) {
                    if (parameters[i] == null) {
                        statement.bindNull(i, change.nullTypes()[i]);
                    } else {
                        statement.bind(i, parameters[i]);
                    }
                }
            }
            return Flux.from(statement.execute()).concatMap(Result::getRowsUpdated).then();
        }).onErrorMap(e -> Faults.wrap(options.name(), run.sourceTable,
                "applying " + run.changes.size() + " change(s) of " + run.sourceTable, e));
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

    /** Consecutive changes sharing one statement. */
    private record Run(String sql, String sourceTable, List<Change> changes) {
    }
}
