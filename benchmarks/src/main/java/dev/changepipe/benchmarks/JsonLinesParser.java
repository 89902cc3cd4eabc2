package dev.changepipe.benchmarks;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.changepipe.core.ChangeItem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Parses a block of JSON Lines into {@link ChangeItem}s, one item per non-blank line:
 *
 * <pre>{"op":"update","table":"shop.order","key":{"id":123},"values":{"id":123,"customer":"...",...}}</pre>
 *
 * <p>{@code op} is {@code insert}, {@code update} or {@code delete}; {@code key} and {@code values}
 * become the item's maps as Jackson reads them (numbers as {@code Integer}/{@code Long}, strings,
 * booleans, nested maps and lists); the version is the line's position in its file. A stand-in for the
 * file source's parser, which comes later in the {@code sources} module; this one exists so that the
 * benchmarks have a realistic, parse-heavy {@code RawRecords}. Thread safe and stateless.
 */
final class JsonLinesParser {

    /** One line as Jackson binds it. */
    record Line(String op, String table, Map<String, Object> key, Map<String, Object> values) {
    }

    private static final ObjectReader READER = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .readerFor(Line.class);

    private JsonLinesParser() {
    }

    /**
     * Parses the lines of {@code block}; the first line gets version {@code firstVersion}, each further
     * line (blank lines included) one more.
     */
    static List<ChangeItem> parse(byte[] block, long firstVersion) {
        List<ChangeItem> items = new ArrayList<>();
        long version = firstVersion;
        int start = 0;
        while (start < block.length) {
            int end = start;
            while (end < block.length && block[end] != '\n') {
                end++;
            }
            if (!blank(block, start, end)) {
                items.add(parseLine(block, start, end - start, version));
            }
            version++;
            start = end + 1;
        }
        return items;
    }

    /** Parses one line; {@code version} is its position. */
    static ChangeItem parseLine(byte[] bytes, int offset, int length, long version) {
        Line line;
        try {
            line = READER.readValue(bytes, offset, length);
        } catch (IOException e) {
            throw new UncheckedIOException("line " + version + ": " + e.getMessage(), e);
        }
        if (line.op() == null || line.table() == null || line.key() == null) {
            throw new IllegalArgumentException("line " + version + ": op, table and key are required");
        }
        ChangeItem.Kind kind = switch (line.op()) {
            case "insert", "c" -> ChangeItem.Kind.INSERT;
            case "update", "u" -> ChangeItem.Kind.UPDATE;
            case "delete", "d" -> ChangeItem.Kind.DELETE;
            default -> throw new IllegalArgumentException("line " + version + ": unknown op " + line.op());
        };
        return ChangeItem.of(kind, line.table(), line.key(), line.values(), version);
    }

    private static boolean blank(byte[] bytes, int from, int to) {
        for (int i = from; i < to; i++) {
            byte b = bytes[i];
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }
}
