package dev.changepipe.core;

import java.util.Map;

/**
 * A snapshot of a pipeline, for status pages and tests.
 *
 * @param name the pipeline's name
 * @param state where it is in its life
 * @param origins progress of every origin pushed in the current or last run
 * @param inFlightBytes bytes admitted to the pusher and not yet acknowledged
 * @param inFlightChunks chunks admitted to the pusher and not yet acknowledged
 * @param lastError the message of the error that ended the last run, or {@code null}
 */
public record PipelineStatus(
        String name,
        Pipeline.State state,
        Map<String, OriginProgress> origins,
        long inFlightBytes,
        int inFlightChunks,
        String lastError) {
}
