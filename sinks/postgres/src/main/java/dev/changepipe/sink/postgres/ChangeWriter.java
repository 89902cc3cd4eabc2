package dev.changepipe.sink.postgres;

import dev.changepipe.core.Chunk;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Applies the items of a batch of chunks, in order, in one transaction: all of them or none, except
 * the items refused for their own content when the sink dead-letters them (those are stored as dead
 * letters before the returned {@code Mono} completes). Called for one batch at a time; the returned
 * {@code Mono} completes once the transaction committed and fails with a {@code PipelineException} that
 * says whether a retry can help.
 */
@FunctionalInterface
interface ChangeWriter {

    Mono<Void> write(List<Chunk> batch);
}
