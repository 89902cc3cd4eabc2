package dev.changepipe.spi;

import reactor.core.publisher.Mono;

/**
 * A source that can copy one of its parts (a name of its {@link dev.changepipe.core.SourceStatus#parts};
 * {@code postgres-cdc}: a table) again while it runs, without stopping the others: {@code POST
 * /api/pipelines/<name>/resync} and {@code ./pipeline resync} ask the running pipeline's source for it,
 * by {@code instanceof}.
 */
public interface SourceResync {

    /**
     * Starts copying {@code part} again; completes once the copy started (its progress is the part's
     * status line). Fails with {@link IllegalArgumentException} for a name that is not one of its parts,
     * with {@link IllegalStateException} when it cannot now (not streaming yet, that part already being
     * copied), each with a message that says so.
     */
    Mono<Void> resync(String part);
}
