package dev.changepipe.core;

import java.util.List;
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
 * <p><b>Acknowledging.</b> {@link #acknowledgeAll(List)} is called with the acks of the chunks all
 * sinks wrote, in push order, one call at a time (the next only after the previous {@code Mono}
 * completed); by default it calls {@link #acknowledge(Ack)} for each.
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

    /**
     * Records several acknowledgements, in push order: the ones that arrived together (a batch's chunks
     * are acknowledged at once) or while the previous were being recorded. Called instead of
     * {@link #acknowledge(Ack)} under the same rules. The default records them one by one; a source
     * whose acknowledgements only move a position forward may record the last of each origin only
     * (the oplog source saves one checkpoint per file for a batch, not one per chunk).
     */
    default Mono<Void> acknowledgeAll(List<Ack> acks) {
        if (acks.size() == 1) {
            return acknowledge(acks.get(0));
        }
        return Flux.fromIterable(acks).concatMap(this::acknowledge, 0).then();
    }

    /**
     * An offset of this source as a person reads it (status, the {@code offsets} command; the number
     * is shown beside it): a file and a byte position, a batch number. By default the number itself.
     */
    default String describe(Offset offset) {
        return offset.toString();
    }

    /** Its lag and the records it refused, for the status page; {@link SourceStatus#NONE} by default. */
    default SourceStatus status() {
        return SourceStatus.NONE;
    }

    /** Releases resources; called once when the pipeline ends. */
    default Mono<Void> close() {
        return Mono.empty();
    }
}
