package dev.changepipe.spi;

import java.util.List;
import reactor.core.publisher.Mono;

/**
 * A sink that follows a source table's new columns: a source that sees a table gain columns while it
 * streams ({@code postgres-cdc}: a relation message of a new shape) asks each sink of its pipeline that
 * implements it, by {@code instanceof}, before it emits the table's rows of the new shape.
 */
public interface TableColumns {

    /**
     * Adds to {@code sourceTable}'s target the {@code columns} it lacks, each as a nullable column of its
     * {@link TableDigest.Kind} (the rows written before have no value for it), when the sink manages the
     * table (creates it). Completes at once when the target already has them or does not exist yet (it is
     * then created with what its configuration lists). Fails, with a message that names the table and
     * gives the statement to run, for a table the sink does not manage.
     */
    Mono<Void> addColumns(String sourceTable, List<TableDigest.Column> columns);
}
