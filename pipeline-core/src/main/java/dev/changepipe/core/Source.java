package dev.changepipe.core;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Emits chunks of changes and records how far they were durably written.
 *
 * <p><b>Reading.</b> {@link #read()} returns a cold {@code Flux} that a pipeline subscribes to once
 * per run. It starts from the durable progress recorded by earlier runs, honours backpressure (the
 * pipeline requests one chunk at a time and pushes it before asking for the next) and completes when
 * a bounded source has nothing more to read. A following source never completes by itself.
 *
 * <p><b>Acknowledging.</b> {@link #acknowledge(Ack)} is called for every chunk after all sinks wrote
 * it, in push order, one call at a time (the next only after the previous {@code Mono} completed).
 * It records {@link Ack#committable()} durably (or defers and batches that, as long as progress is
 * never recorded ahead of an ack), removes acknowledged work from queues, and so on.
 *
 * <p><b>Cancel.</b> Cancelling the read {@code Flux} stops reading (a graceful stop or an abort);
 * chunks already emitted may still be acknowledged afterwards.
 *
 * <p><b>Errors.</b> An error signalled by {@code read()} or {@code acknowledge()} ends the run; nothing
 * after the failed point is acknowledged, so it is read again after a restart.
 */
public interface Source {

    /** A short name for logs and metrics. */
    String name();

    /** The chunks to push, from the last durable position on. */
    Flux<Chunk> read();

    /** Records that a chunk was durably written by every sink. */
    Mono<Void> acknowledge(Ack ack);

    /** Releases resources; called once when the pipeline ends. */
    default Mono<Void> close() {
        return Mono.empty();
    }
}
