package dev.changepipe.core;

import java.util.List;

/**
 * Where a pipeline keeps its dead letters ({@link DeadLetter}): one place per pipeline, shared by its
 * source and sinks.
 *
 * <p><b>Durable before acknowledged.</b> {@link #append} returns once the letters are durable, so a
 * sink calls it before its write completes and the chunk can be acknowledged only after its dead
 * letters are safe.
 *
 * <p><b>Idempotent.</b> A letter whose {@linkplain DeadLetter#id() identity} is in the store already is
 * not stored again: a record read again after a restart costs no second letter.
 *
 * <p><b>Threading.</b> Implementations are thread-safe; {@code append} does blocking I/O, so callers on
 * non-blocking threads call it from a scheduler that allows blocking.
 */
public interface DeadLetterStore {

    /** The pipeline whose letters this store keeps (the {@link DeadLetter#pipeline()} of each). */
    String pipeline();

    /**
     * Stores the letters not stored before, durably.
     *
     * @return how many of them were new
     * @throws PipelineException when they cannot be stored (a fault of the whole store, which stops
     *     the pipeline: a dead letter is never dropped)
     */
    int append(List<DeadLetter> letters);

    /** Every letter stored, oldest first. */
    List<DeadLetter> list();

    /** Releases the store's file or connection. */
    default void close() {
    }
}
