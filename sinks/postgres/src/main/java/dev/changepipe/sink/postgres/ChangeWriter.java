package dev.changepipe.sink.postgres;

import dev.changepipe.core.ChangeItem;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Applies the items of one chunk, in order, in one transaction: all of them or none. Called for one
 * chunk at a time; the returned {@code Mono} completes once the transaction committed and fails with
 * a {@code PipelineException} that says whether a retry can help.
 */
@FunctionalInterface
interface ChangeWriter {

    Mono<Void> write(List<ChangeItem> items);
}
