package dev.changepipe.service;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.Offset;
import java.util.Map;
import java.util.function.Function;

/**
 * A saved checkpoint as {@code GET /api/offsets} and a {@link PipelineReport}'s {@code offsets} show
 * it; the {@code offsets} command reads it. The component names and order are the JSON's.
 *
 * @param origin the origin
 * @param offset the offset saved
 * @param position the same offset as the source reads it
 * @param attributes what the source saved with it
 */
record CheckpointReport(String origin, long offset, String position, Map<String, String> attributes) {

    /** {@code describe}: an offset as the pipeline's source reads it. */
    static CheckpointReport of(Checkpoint c, Function<Offset, String> describe) {
        return new CheckpointReport(c.origin(), c.offset().value(), describe.apply(c.offset()), c.attributes());
    }
}
