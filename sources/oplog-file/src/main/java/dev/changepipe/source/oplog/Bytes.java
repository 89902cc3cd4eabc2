package dev.changepipe.source.oplog;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Scans of byte arrays eight bytes at a time (a {@code long} read through a view, then bit tricks
 * instead of a branch per byte): finding the end of a line and telling ASCII from UTF-8 are two passes
 * over every byte of a log, and C2 does not vectorise a loop that may exit early.
 */
final class Bytes {

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;

    private Bytes() {
    }

    /** The index of the first {@code wanted} in {@code b[from, to)}, or -1. */
    static int indexOf(byte[] b, int from, int to, byte wanted) {
        int i = from;
        long pattern = ONES * (wanted & 0xff);
        for (; i + Long.BYTES <= to; i += Long.BYTES) {
            long x = (long) LONGS.get(b, i) ^ pattern;
            // A byte of x is zero where b holds wanted; this sets its high bit (and no bit below the first).
            long found = (x - ONES) & ~x & HIGHS;
            if (found != 0) {
                return i + (Long.numberOfTrailingZeros(found) >>> 3);
            }
        }
        for (; i < to; i++) {
            if (b[i] == wanted) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The index of the first byte at or after {@code from} that may end or complicate a JSON string
     * (a quote, a backslash, a control character or a byte of a multi-byte character), or a position
     * up to eight bytes before {@code to} from which such a byte must be looked for one at a time.
     */
    static int plainAsciiEnd(byte[] b, int from, int to) {
        int i = from;
        for (; i + Long.BYTES <= to; i += Long.BYTES) {
            long x = (long) LONGS.get(b, i);
            long quote = x ^ (ONES * '"');
            long backslash = x ^ (ONES * '\\');
            // High bit set in a byte that is a quote, a backslash, below 0x20, or itself at or above 0x80
            // (bytes after the first such one may be flagged too: only the first one counts).
            long special = ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) | (x - ONES * 0x20) | x;
            if ((special & HIGHS) != 0) {
                return i + (Long.numberOfTrailingZeros(special & HIGHS) >>> 3);
            }
        }
        return i;
    }

    /** Whether every byte of {@code b[start, start + length)} is ASCII (below 0x80). */
    static boolean isAscii(byte[] b, int start, int length) {
        int i = start;
        int end = start + length;
        for (; i + Long.BYTES <= end; i += Long.BYTES) {
            if (((long) LONGS.get(b, i) & HIGHS) != 0) {
                return false;
            }
        }
        for (; i < end; i++) {
            if (b[i] < 0) {
                return false;
            }
        }
        return true;
    }
}
