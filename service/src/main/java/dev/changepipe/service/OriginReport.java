package dev.changepipe.service;

import dev.changepipe.core.Offset;
import dev.changepipe.core.OriginProgress;
import java.util.function.Function;

/**
 * One origin's progress in a {@link PipelineReport} ({@code origins}). The component names and order
 * are the JSON's.
 *
 * @param origin the origin
 * @param committable the offset up to which every pushed chunk is acknowledged; {@code null} while none is
 * @param committableAt the same offset as the source reads it (a log file's {@code generation 2, byte
 *     1048576}); {@code null} while none is
 * @param lastPushed the offset of the last chunk pushed; {@code null} before any
 * @param inFlightChunks chunks pushed and not yet acknowledged
 * @param inFlightBytes bytes of those chunks
 * @param ackedChunks chunks acknowledged so far
 * @param done whether the origin's last chunk was pushed and everything acknowledged
 */
record OriginReport(
        String origin,
        Long committable,
        String committableAt,
        Long lastPushed,
        int inFlightChunks,
        long inFlightBytes,
        long ackedChunks,
        boolean done) {

    /** {@code describe}: an offset as the pipeline's source reads it. */
    static OriginReport of(OriginProgress o, Function<Offset, String> describe) {
        return new OriginReport(o.origin(),
                o.committable() == null ? null : o.committable().value(),
                o.committable() == null ? null : describe.apply(o.committable()),
                o.lastPushed() == null ? null : o.lastPushed().value(),
                o.inFlightChunks(), o.inFlightBytes(), o.ackedChunks(), o.done());
    }
}
