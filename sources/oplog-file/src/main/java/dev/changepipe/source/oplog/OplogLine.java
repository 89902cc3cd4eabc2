package dev.changepipe.source.oplog;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One complete line of an operation log, handed to a {@link LineParser}. A view over the source's
 * buffer: valid only during the {@code parse} call, and the buffer must not be modified.
 */
public final class OplogLine {

    private final String origin;
    private final long offset;
    private final long baseVersion;
    private final byte[] buffer;
    private final int start;
    private final int length;
    private String text;
    private List<Rejection> rejections;

    OplogLine(String origin, long offset, long baseVersion, byte[] buffer, int start, int length) {
        this.origin = origin;
        this.offset = offset;
        this.baseVersion = baseVersion;
        this.buffer = buffer;
        this.start = start;
        this.length = length;
    }

    /**
     * A line over {@code buffer[start, start + length)}, for testing and measuring parsers; the source
     * makes its own.
     *
     * @param version the version of the line's first change
     */
    public static OplogLine of(String origin, long offset, long version, byte[] buffer, int start, int length) {
        if (start < 0 || length < 0 || start + length > buffer.length) {
            throw new IllegalArgumentException("line [" + start + ", " + (start + length) + ") outside a buffer of "
                    + buffer.length + " bytes");
        }
        return new OplogLine(origin, offset, version, buffer, start, length);
    }

    /** The origin (the file) the line comes from. */
    public String origin() {
        return origin;
    }

    /** The byte offset of the line's first byte in its file. */
    public long offset() {
        return offset;
    }

    /** The buffer holding the line's UTF-8 bytes at {@link #start()}; read only. */
    public byte[] buffer() {
        return buffer;
    }

    /** Where the line starts in {@link #buffer()}. */
    public int start() {
        return start;
    }

    /** The line's length in bytes, without its terminator. */
    public int length() {
        return length;
    }

    /** The line as a string (decoded on first use). */
    public String text() {
        if (text == null) {
            text = new String(buffer, start, length, StandardCharsets.UTF_8);
        }
        return text;
    }

    /**
     * The version of the line's {@code index}-th change: the line's own version plus the index. Every
     * version of a line lies below the next line's, so versions strictly increase in log order.
     *
     * @throws IllegalArgumentException when {@code index} is negative or not below the line's length
     */
    public long version(int index) {
        if (index < 0 || index > Math.max(0, length - 1)) {
            throw new IllegalArgumentException("change index " + index + " out of range for a line of " + length
                    + " bytes at " + origin + ":" + offset);
        }
        return baseVersion + index;
    }

    /**
     * Marks the line's {@code index}-th change as one that cannot be replicated (no key, a save without
     * its row...): the source dead-letters it, with the line, the index and {@code reason}, and keeps
     * the line's other changes. Call it instead of returning an item for that change; if {@code parse}
     * then throws, the whole line is dead-lettered instead and the rejections are dropped.
     *
     * @param reason what is wrong with the change, in a few words, naming it (table, key)
     */
    public void reject(int index, String reason) {
        if (index < 0) {
            throw new IllegalArgumentException("change index " + index + " is negative");
        }
        if (rejections == null) {
            rejections = new ArrayList<>(2);
        }
        rejections.add(new Rejection(index, reason));
    }

    /** The changes {@link #reject rejected} by the parser, in the order it rejected them; empty if none. */
    List<Rejection> rejections() {
        return rejections == null ? List.of() : rejections;
    }

    /** One rejected change of a line. */
    record Rejection(int index, String reason) {
    }

    @Override
    public String toString() {
        return "OplogLine[" + origin + ":" + offset + ", " + length + " bytes]";
    }
}
