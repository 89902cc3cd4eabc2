package dev.changepipe.spi;

import java.util.Collection;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * A sink's part in handing the writing of its target tables between this service and another writer
 * of them (django-clickhouse's own sync, for one). A {@link dev.changepipe.core.Sink} whose tables
 * another application may write implements it; a {@link CliCommand} that hands a source's data over
 * (the operations storage's {@code handover}) asks every sink of the pipeline that does, by
 * {@code instanceof}, and prints what it finds. Neither method writes or changes anything.
 *
 * <p>Both take the source tables ({@code app.model}) whose target tables are handed over and complete
 * with what the sink finds, in their order; they fail only when the sink cannot tell (an error other
 * than a table's own).
 */
public interface TableHandover {

    /**
     * Before this service writes the tables: whether each fits the way the sink writes it, as its first
     * write would check. A table that does not is a {@linkplain Finding#problem problem} whose text says
     * why and how to migrate it.
     */
    Mono<List<Finding>> takeOver(Collection<String> sourceTables);

    /**
     * After this service's last write, before {@code writer} writes the tables again with rows that carry
     * none of this service's versions: what must be done first, as {@linkplain Finding#statements
     * statements} to run, for each table.
     *
     * @param writer who writes next, as the findings name it, e.g. {@code django-clickhouse}
     */
    Mono<List<Finding>> handBack(Collection<String> sourceTables, String writer);

    /**
     * What the sink says of one table.
     *
     * @param text one or more lines, e.g. {@code table db.t fits (replacing)}
     * @param problem whether it stands in the way of the handover
     * @param statements what to run on the target before the other writer starts, one statement each
     */
    record Finding(String text, boolean problem, List<String> statements) {

        public Finding {
            statements = List.copyOf(statements);
        }
    }
}
