package dev.changepipe.spi;

import reactor.core.publisher.Mono;

/**
 * A sink that can apply a source's {@code TRUNCATE}: remove every row of a source table's target that
 * was written with a version below a bound (that of the truncating transaction), and keep the rows of
 * later changes, whatever order the two reach the target in. A source that streams truncates
 * ({@code postgres-cdc}) asks each sink of its pipeline that implements it, by {@code instanceof}, once
 * everything it emitted before the truncate is written; a sink that does not implement it gets a dead
 * letter instead.
 */
public interface TableTruncate {

    /**
     * Removes the rows of {@code sourceTable}'s target with a version below {@code beforeVersion}.
     * Completes once the removal is durable (ClickHouse: the mutation is accepted; it finishes in the
     * background); completes at once when the target does not exist. Fails with a message naming the
     * table when the target cannot do it (a table written in a mode without versions to compare).
     */
    Mono<Void> truncate(String sourceTable, long beforeVersion);
}
