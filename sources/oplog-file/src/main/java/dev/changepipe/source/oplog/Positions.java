package dev.changepipe.source.oplog;

import dev.changepipe.core.Offset;

/**
 * How file positions become chunk offsets and item versions.
 *
 * <p>Chunk offset = {@code generation << 41 | position << 1 | end}, where {@code position} is the byte
 * just after the chunk's last line and {@code end} marks the empty chunk that completes a file. A new
 * generation of the same origin (after truncation, re-creation or rotation) therefore keeps offsets
 * increasing, and the end marker sorts after the file's last data chunk.
 *
 * <p>Item version = {@code generation << 40 | line offset} (+ the item's index within its line):
 * deterministic for its line, strictly increasing in log order across generations, and, because
 * generations are handed out in file-name order, across the files of a directory (DESIGN.md section 5).
 */
final class Positions {

    static final int POSITION_BITS = 40;
    /** The largest byte position a file may reach: 1 TiB. */
    static final long MAX_POSITION = (1L << POSITION_BITS) - 1;
    /** The largest generation: 2^22 - 1. */
    static final long MAX_GENERATION = (1L << 22) - 1;

    private Positions() {
    }

    static Offset offset(long generation, long position, boolean end) {
        check(generation, position);
        return Offset.of((generation << (POSITION_BITS + 1)) | (position << 1) | (end ? 1 : 0));
    }

    static long generation(Offset offset) {
        return offset.value() >>> (POSITION_BITS + 1);
    }

    static long position(Offset offset) {
        return (offset.value() >>> 1) & MAX_POSITION;
    }

    static boolean isEnd(Offset offset) {
        return (offset.value() & 1) == 1;
    }

    /** {@code generation 2, byte 1048576}, or {@code generation 2, end of file at byte 1048576}. */
    static String describe(Offset offset) {
        return "generation " + generation(offset) + (isEnd(offset) ? ", end of file at byte " : ", byte ")
                + position(offset);
    }

    static long version(long generation, long lineOffset) {
        check(generation, lineOffset);
        return (generation << POSITION_BITS) | lineOffset;
    }

    private static void check(long generation, long position) {
        if (generation < 0 || generation > MAX_GENERATION) {
            throw new IllegalArgumentException("generation out of range: " + generation);
        }
        if (position < 0 || position > MAX_POSITION) {
            throw new IllegalArgumentException("file position out of range (files up to 1 TiB): " + position);
        }
    }
}
