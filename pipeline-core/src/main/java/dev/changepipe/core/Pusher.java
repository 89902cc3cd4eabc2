package dev.changepipe.core;

import java.time.Duration;
import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * Moves chunks from a source into the sinks and acknowledges them once written. Implementations
 * (in the {@code pusher} module): {@code SyncPusher}, which parses, writes and acknowledges a chunk
 * before its push completes, and {@code ParseQueuePusher}, which parses in parallel, writes in push
 * order and bounds the bytes in flight.
 *
 * <p><b>Guarantees</b> (DESIGN.md section 4; each has a test named after it): writes reach each sink
 * in push order; a chunk is acknowledged only after every sink confirmed its write, and acks are
 * delivered in push order; bytes admitted but not acknowledged never exceed the in-flight limit (a
 * single larger chunk is admitted alone); a double or unknown ack fails loudly and changes no counter;
 * the first error ends the pusher and nothing after it is acknowledged; a graceful close drains.
 *
 * <p><b>Threading.</b> {@link #push} may be called from any thread. Pushes are admitted in the order
 * they were called; a source normally pushes one chunk at a time ({@code concatMap(pusher::push)}).
 *
 * <p><b>Ownership.</b> A pushed chunk belongs to the pusher until it is acknowledged or the pusher
 * ends.
 */
public interface Pusher {

    /**
     * Admits a chunk. The returned {@code Mono} completes when the chunk was admitted (for the sync
     * pusher: written and acknowledged); it waits, holding no thread, while the in-flight limit is
     * reached. It fails with {@link PusherClosedException} once the pusher is closed or failed, and
     * with {@link IllegalArgumentException} for a chunk that breaks its origin's order. Cancelling a
     * waiting push withdraws the chunk without a trace.
     */
    Mono<Void> push(Chunk chunk);

    /** A snapshot of the progress of every origin that was pushed to. */
    Map<String, OriginProgress> progress();

    /** Bytes admitted and not yet acknowledged. */
    long inFlightBytes();

    /** Chunks admitted and not yet acknowledged. */
    int inFlightChunks();

    /**
     * Completes once the pusher was closed and drained, or fails with the first error that ended it.
     * Lets a pipeline notice a failed write while no push is waiting.
     */
    Mono<Void> whenTerminated();

    /**
     * Refuses further pushes and completes once every admitted chunk is written and acknowledged.
     * Pushes still waiting for room fail with {@link PusherClosedException}. If draining takes longer
     * than {@code timeout} the pusher is aborted and the {@code Mono} fails.
     */
    Mono<Void> close(Duration timeout);

    /**
     * Stops at once: waiting pushes fail, writes under way are cancelled, nothing further is
     * acknowledged. Idempotent.
     */
    void abort();
}
