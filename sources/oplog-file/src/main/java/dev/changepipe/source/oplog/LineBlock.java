package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.RawRecords;
import io.micrometer.core.instrument.Counter;
import java.util.ArrayList;
import java.util.List;

/**
 * The raw lines of one chunk: {@code data[0, length)} holds complete lines read from {@code origin}
 * starting at byte {@code position} of generation {@code generation}. Parsed once, on a parse thread,
 * by {@link #parse()}: each line is checked (length, UTF-8), handed to the parser, and a malformed line
 * is dead-lettered (or fails the run). A block may also stand for a single line that was too long to
 * keep ({@link #overlong}) or end with an unterminated line of a rotated file.
 */
final class LineBlock implements RawRecords {

    /** What every block of a source shares for parsing. */
    record Parsing(LineParser parser, DeadLetters deadLetters, Counter lines, int maxLineBytes,
            boolean failOnMalformed) {
    }

    private final Parsing parsing;
    private final String origin;
    private final long generation;
    private final long position;
    private final byte[] data;
    private final int length;
    private final boolean unterminatedTail;
    private final long overlongLength;

    private LineBlock(Parsing parsing, String origin, long generation, long position, byte[] data, int length,
            boolean unterminatedTail, long overlongLength) {
        this.parsing = parsing;
        this.origin = origin;
        this.generation = generation;
        this.position = position;
        this.data = data;
        this.length = length;
        this.unterminatedTail = unterminatedTail;
        this.overlongLength = overlongLength;
    }

    /** Complete lines, each ending with {@code '\n'}; {@code unterminatedTail} when the last one does not. */
    static LineBlock lines(Parsing parsing, String origin, long generation, long position, byte[] data, int length,
            boolean unterminatedTail) {
        return new LineBlock(parsing, origin, generation, position, data, length, unterminatedTail, -1);
    }

    /** One line of {@code lineLength} bytes at {@code position}, over the limit; {@code prefix} is what was kept. */
    static LineBlock overlong(Parsing parsing, String origin, long generation, long position, byte[] prefix,
            long lineLength) {
        return new LineBlock(parsing, origin, generation, position, prefix, prefix.length, false, lineLength);
    }

    @Override
    public List<ChangeItem> parse() {
        boolean dead = false;
        List<ChangeItem> items = new ArrayList<>();
        long lines = 0;
        try {
            if (overlongLength >= 0) {
                lines++;
                dead = true;
                malformed(position, 0, length, overlongLength,
                        "line of " + overlongLength + " bytes is longer than maxLineBytes " + parsing.maxLineBytes());
                return items;
            }
            int start = 0;
            while (start < length) {
                int nl = Bytes.indexOf(data, start, length, (byte) '\n');
                boolean terminated = nl >= 0;
                int end = terminated ? nl : length;
                lines++;
                dead |= line(start, end, terminated, items);
                start = end + 1;
            }
            return items;
        } finally {
            parsing.lines().increment(lines);
            if (dead) {
                parsing.deadLetters().force();
            }
        }
    }

    /** Parses the line {@code data[start, end)}; returns whether it was dead-lettered. */
    private boolean line(int start, int end, boolean terminated, List<ChangeItem> items) {
        long offset = position + start;
        int contentEnd = end > start && data[end - 1] == '\r' ? end - 1 : end;
        int contentLength = contentEnd - start;
        if (!terminated && unterminatedTail) {
            malformed(offset, start, end - start, end - start, "unterminated last line of a rotated or replaced file");
            return true;
        }
        if (contentLength == 0 || isBlank(start, contentEnd)) {
            return false;
        }
        if (contentLength > parsing.maxLineBytes()) {
            malformed(offset, start, Math.min(contentLength, parsing.maxLineBytes()), contentLength,
                    "line of " + contentLength + " bytes is longer than maxLineBytes " + parsing.maxLineBytes());
            return true;
        }
        if (!Bytes.isAscii(data, start, contentLength) && DeadLetters.strictUtf8(data, start, contentLength) == null) {
            malformed(offset, start, contentLength, contentLength, "invalid UTF-8");
            return true;
        }
        OplogLine line = new OplogLine(origin, offset, Positions.version(generation, offset), data, start, contentLength);
        List<ChangeItem> parsed;
        try {
            parsed = parsing.parser().parse(line);
        } catch (MalformedLineException e) {
            malformed(offset, start, contentLength, contentLength, e.reason(), -1);
            return true;
        }
        if (parsed != null) {
            items.addAll(parsed);
        }
        List<OplogLine.Rejection> rejections = line.rejections();
        for (OplogLine.Rejection rejection : rejections) {
            malformed(offset, start, contentLength, contentLength, rejection.reason(), rejection.index());
        }
        return !rejections.isEmpty();
    }

    private void malformed(long offset, int start, int keptLength, long lineLength, String reason) {
        malformed(offset, start, keptLength, lineLength, reason, -1);
    }

    /** Dead-letters the line, or only its {@code index}-th change when {@code index >= 0}. */
    private void malformed(long offset, int start, int keptLength, long lineLength, String reason, int index) {
        if (parsing.failOnMalformed()) {
            throw new MalformedLineException("malformed line at " + origin + ":" + offset + ": " + reason);
        }
        parsing.deadLetters().write(origin, generation, offset, index, reason, data, start, keptLength, lineLength);
    }

    private boolean isBlank(int start, int end) {
        for (int i = start; i < end; i++) {
            if (data[i] != ' ' && data[i] != '\t') {
                return false;
            }
        }
        return true;
    }
}
