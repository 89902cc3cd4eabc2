package dev.changepipe.core;

import reactor.core.publisher.Mono;

/**
 * Writes changes to a target (ClickHouse, Redis, PostgreSQL...).
 *
 * <p><b>Threading.</b> A pusher calls {@link #write} for one chunk at a time, in push order, and
 * waits for the returned {@code Mono} before writing the next chunk; implementations need no
 * synchronization between writes but may be called from any thread.
 *
 * <p><b>Ownership.</b> The chunk and its items are immutable and shared with other sinks; a sink
 * must not keep them after its write completed.
 *
 * <p><b>Completion means durable.</b> The returned {@code Mono} completes only once the target has
 * durably accepted every item; after that the chunk may be acknowledged and the source may forget it.
 * Writes must be idempotent under replay: writing the same items with the same versions again leaves
 * the same end state.
 *
 * <p><b>Errors</b> are signalled through the {@code Mono}, preferably as a {@link SinkException} that
 * says whether a retry can help. A sink may retry transient faults itself before giving up.
 *
 * <p><b>Cancel.</b> Cancelling the {@code Mono} (an aborted pipeline) abandons the write; the chunk is
 * not acknowledged and is written again after a restart.
 */
public interface Sink {

    /** A short name for logs, metrics and errors, such as {@code clickhouse}. */
    String name();

    /** Writes the items of a parsed chunk; completes when they are durable. */
    Mono<Void> write(Chunk chunk);

    /** Releases connections; called once when the pipeline ends. */
    default Mono<Void> close() {
        return Mono.empty();
    }
}
