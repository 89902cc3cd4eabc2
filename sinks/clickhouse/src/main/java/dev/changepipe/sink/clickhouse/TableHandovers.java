package dev.changepipe.sink.clickhouse;

import dev.changepipe.spi.TableHandover.Finding;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A ClickHouse sink's findings for a handover ({@link ClickHouseSink#takeOver}, {@link
 * ClickHouseSink#handBack}): the refusals of {@link ClickHouseSink#checkTables}, else each table's
 * write mode, and, when the tables go back to a writer whose inserts carry no version, the statement
 * {@link ClickHouseSink#versionDefaultAbove} gives for each replacing table.
 */
final class TableHandovers {

    private TableHandovers() {
    }

    /** {@code writer}: null when this service takes the tables over. */
    static Mono<List<Finding>> findings(ClickHouseSink sink, Collection<String> sourceTables, String writer) {
        List<String> tables = List.copyOf(sourceTables);
        return sink.checkTables(tables)
                .then(Mono.<List<Finding>>empty())
                .onErrorResume(e -> e instanceof Exception, e -> Mono.just(refusals(e)))
                .switchIfEmpty(Flux.fromIterable(tables).concatMap(t -> fit(sink, t, writer)).collectList());
    }

    /** The first table refused and the others' refusals, suppressed into it. */
    private static List<Finding> refusals(Throwable e) {
        List<Finding> refused = new ArrayList<>();
        refused.add(new Finding(e.getMessage(), true, List.of()));
        for (Throwable t : e.getSuppressed()) {
            if (t instanceof ClickHouseWriteException) {
                refused.add(new Finding(t.getMessage(), true, List.of()));
            }
        }
        return refused;
    }

    private static Mono<Finding> fit(ClickHouseSink sink, String sourceTable, String writer) {
        ClickHouseSinkOptions options = sink.options();
        String table = options.database() + "." + options.targetTable(sourceTable);
        WriteMode mode = options.mode(sourceTable);
        if (writer == null || mode != WriteMode.REPLACING) {
            return Mono.just(new Finding("table " + table + " fits (" + mode.name().toLowerCase(Locale.ROOT) + ")",
                    false, List.of()));
        }
        // the writer inserts no version: the column's default must rank its rows above every row this
        // service wrote; equal versions keep the row inserted last, as ReplacingMergeTree() did.
        return sink.versionDefaultAbove(sourceTable).map(statement -> new Finding("table " + table + ": " + writer
                + "'s inserts carry no " + options.versionColumn() + "; before starting its sync, run:", false,
                List.of(statement)));
    }
}
