package dev.changepipe.core;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Durable offsets per origin.
 *
 * <p><b>Fencing.</b> Whoever writes an origin's checkpoint first {@linkplain #claim claims} it and
 * gets a token greater than every earlier claim's; {@link #save} succeeds only with the newest token.
 * A process that lost its claim (a paused instance whose origin moved elsewhere, a zombie after a
 * restart) thus cannot move the checkpoint, whatever it believes.
 *
 * <p><b>Durability.</b> A completed {@code save} survives a crash of the process and of the machine;
 * a crash during a save leaves the previous checkpoint or the new one, never a mix.
 *
 * <p><b>Threading.</b> Every method may be called from any thread; the {@code Mono}s do their I/O off
 * the caller's thread. Errors arrive as {@link PipelineException}s through the returned publisher.
 */
public interface CheckpointStore {

    /** Claims the origin and returns a token greater than that of every earlier claim. */
    Mono<Long> claim(String origin);

    /** The saved checkpoint of the origin, or empty when there is none. */
    Mono<Checkpoint> load(String origin);

    /**
     * Saves a checkpoint. Fails with {@link StaleClaimException} when the origin was claimed again
     * after {@code token} was handed out; the stored checkpoint is then unchanged.
     */
    Mono<Void> save(Checkpoint checkpoint, long token);

    /** Every saved checkpoint. */
    Flux<Checkpoint> loadAll();

    /** Forgets an origin's checkpoint, so that it is read from the start (an offset reset). */
    Mono<Void> delete(String origin);

    /** A save with a token older than the origin's newest claim. Never retryable. */
    final class StaleClaimException extends PipelineException {

        public StaleClaimException(String origin, long token, long newest) {
            super("checkpoint of origin " + origin + " was claimed again (token " + newest
                    + ") after this writer's claim (token " + token + "); refusing to save");
        }
    }
}
