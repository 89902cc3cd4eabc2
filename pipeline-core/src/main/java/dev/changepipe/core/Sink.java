package dev.changepipe.core;

import java.util.List;
import java.util.function.Consumer;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Writes changes to a target (ClickHouse, Redis, PostgreSQL...).
 *
 * <p><b>Threading.</b> A pusher calls {@link #write} (or {@link #writeBatch}) in push order and, unless
 * the sink allows more with {@link #maxWritesInFlight()}, waits for the returned {@code Mono} before
 * starting the next write; implementations need no synchronization between writes but may be called
 * from any thread.
 *
 * <p><b>Batches.</b> The parse-queue pusher coalesces the chunks that wait behind a write in flight
 * into one batch (group commit) and hands it to {@link #writeBatch}: a sink writes it as one write
 * where its target allows (one {@code INSERT} per table, one transaction, one pipeline). The default
 * writes the chunks one after the other.
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

    /**
     * Writes the items of a batch of parsed chunks, in the order given (the push order); completes
     * when every item of every chunk is durable. A failure fails the whole batch: none of its chunks
     * is acknowledged, so all of them are written again after a restart, which versions make
     * idempotent. The default writes the chunks one by one with {@link #write(Chunk)}; its error names
     * the chunk that failed.
     */
    default Mono<Void> writeBatch(List<Chunk> batch) {
        if (batch.size() == 1) {
            return write(batch.get(0));
        }
        return Flux.fromIterable(batch)
                .concatMap(chunk -> write(chunk).onErrorMap(e -> PipelineException.inChunk("write", chunk, e)))
                .then();
    }

    /**
     * Lets the sink turn a parsed chunk's items into the form it writes, on the thread that parsed
     * them and before the chunk waits for its write: the parse-queue pusher calls it when this sink is
     * the pipeline's only one, so the work runs on the parse threads, in parallel, and the chunk holds
     * that form (smaller than its items, and charged as such in the in-flight bound) until it is
     * written. Returns the chunk {@linkplain Chunk#prepared prepared}, or the chunk itself to write
     * it from its items (the default; also the answer for items the sink would refuse, so that its
     * write can dead-letter them). Must not block and must not fail: a sink that cannot prepare a
     * chunk returns it as it is. {@link #writeBatch} then receives prepared and unprepared chunks.
     */
    default Chunk prepare(Chunk parsed) {
        return parsed;
    }

    /**
     * How many writes the pusher may have under way at once; 1 (the default) means the next write
     * starts only when the previous one is durable. A sink returns more only when its writes commute:
     * two writes that complete in either order leave the same end state, because every item carries its
     * version and the target keeps the newest (ClickHouse {@code ReplacingMergeTree}, the Redis hot
     * storage's version check). Acknowledgements are still delivered in push order.
     */
    default int maxWritesInFlight() {
        return 1;
    }

    /**
     * Registers a listener for the attempts that failed with a transient fault and are retried inside a
     * write, so that trouble is visible while the sink still tries (a server down), not only when the
     * write finally fails. A sink that retries calls it on each such attempt; the default retries
     * nothing and ignores the listener.
     */
    default void onRetry(Consumer<Throwable> listener) {
    }

    /** Releases connections; called once when the pipeline ends. */
    default Mono<Void> close() {
        return Mono.empty();
    }
}
