package dev.changepipe.core;

/**
 * A snapshot of one origin's progress in a pusher.
 *
 * @param origin the origin
 * @param inFlightChunks chunks pushed and not yet acknowledged
 * @param inFlightBytes bytes of those chunks
 * @param committable the low watermark: the highest offset at or below which every pushed chunk is
 *     acknowledged, or {@code null} while nothing is
 * @param lastPushed the offset of the last chunk pushed
 * @param completedPushed whether the origin's completed chunk was pushed
 * @param done whether the completed chunk was pushed and every chunk acknowledged; never reset
 * @param ackedChunks chunks acknowledged so far
 */
public record OriginProgress(
        String origin,
        int inFlightChunks,
        long inFlightBytes,
        Offset committable,
        Offset lastPushed,
        boolean completedPushed,
        boolean done,
        long ackedChunks) {
}
