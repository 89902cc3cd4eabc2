package dev.changepipe.source.oplog;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict JSON reader straight over a line's bytes, made for the built-in parsers: one instance per
 * parse thread, {@linkplain #reset reset} for every line, so a line costs no parser and no tree. Values
 * come out as the source documents them: {@code Long} (integers; beyond 64 bits the JSON is refused),
 * {@code BigDecimal} (other numbers, exact, built from a long and a scale when the digits fit),
 * {@code String}, {@code Boolean}, {@code null}, {@code ArrayList} and {@code LinkedHashMap}. Object
 * keys the caller reads with {@link #readName()} come from a small per-reader cache, so the names of
 * a table's fields are the same {@code String}s row after row.
 *
 * <p>It keeps a running estimate of the heap the values it made hold ({@link #takeAllocated()}), in
 * the layout of a 64-bit JVM with compressed references: the figure a {@code ChangeItem} reports as
 * its size. Not thread safe. Errors are {@link MalformedLineException}s whose reason starts with
 * {@code "broken JSON: "}.
 */
final class JsonReader {

    /** Deeper nesting is refused rather than risking the parse thread's stack. */
    static final int MAX_DEPTH = 256;

    private static final int NAME_SLOTS = 2048;

    private byte[] b;
    private int pos;
    private int end;
    private int lineStart;
    private long allocated;
    private boolean lastAscii;

    private final byte[][] nameBytes = new byte[NAME_SLOTS][];
    private final String[] nameStrings = new String[NAME_SLOTS];
    private final StringBuilder text = new StringBuilder(64);

    /** Reads {@code bytes[start, end)} from now on. */
    void reset(byte[] bytes, int start, int end) {
        this.b = bytes;
        this.pos = start;
        this.lineStart = start;
        this.end = end;
    }

    int position() {
        return pos;
    }

    /** The estimated heap of the values made since the last call, and starts counting again. */
    long takeAllocated() {
        long a = allocated;
        allocated = 0;
        return a;
    }

    /** The next byte after white space, or -1 at the end; consumes nothing but the white space. */
    int peek() {
        skipWhitespace();
        return pos < end ? b[pos] & 0xff : -1;
    }

    /** Consumes {@code c} (after white space) if it is next; returns whether it was. */
    boolean consume(char c) {
        skipWhitespace();
        if (pos < end && b[pos] == c) {
            pos++;
            return true;
        }
        return false;
    }

    void expect(char c) {
        if (!consume(c)) {
            throw broken("expected '" + c + "'");
        }
    }

    /** After the last value: only white space may follow. */
    void expectEnd() {
        skipWhitespace();
        if (pos < end) {
            throw broken("unexpected content after the JSON value");
        }
    }

    /**
     * After the first member or element: consumes {@code ','} and returns true, or consumes
     * {@code close} and returns false.
     */
    boolean more(char close) {
        skipWhitespace();
        if (pos < end) {
            byte c = b[pos++];
            if (c == ',') {
                return true;
            }
            if (c == close) {
                return false;
            }
        }
        throw broken("expected ',' or '" + close + "'");
    }

    /** An object member's name and the {@code ':'} after it; the same instance for the same name. */
    String readName() {
        skipWhitespace();
        if (pos >= end || b[pos] != '"') {
            throw broken("expected a field name");
        }
        String name = readCachedString();
        expect(':');
        return name;
    }

    /**
     * A string value through the same cache as the names (for a value repeated on every line, such as a
     * table name): the same instance for the same text, and not counted as allocated.
     */
    String readCachedString() {
        skipWhitespace();
        if (pos >= end || b[pos] != '"') {
            throw broken("expected a string");
        }
        int start = ++pos;
        int hash = 0;
        while (pos < end) {
            byte c = b[pos];
            if (c == '"') {
                break;
            }
            if (c == '\\' || (c >= 0 && c < 0x20)) {
                pos = start - 1;
                return readStringRaw();
            }
            hash = 31 * hash + c;
            pos++;
        }
        if (pos >= end) {
            throw broken("unterminated string");
        }
        int length = pos - start;
        pos++;
        int slot = (hash ^ (hash >>> 11)) & (NAME_SLOTS - 1);
        byte[] cached = nameBytes[slot];
        if (cached != null && Arrays.equals(cached, 0, cached.length, b, start, start + length)) {
            return nameStrings[slot];
        }
        String name = new String(b, start, length, StandardCharsets.UTF_8);
        nameBytes[slot] = Arrays.copyOfRange(b, start, start + length);
        nameStrings[slot] = name;
        return name;
    }

    /** Any value; see the class comment for the types. */
    Object readValue() {
        return readValue(0);
    }

    private Object readValue(int depth) {
        skipWhitespace();
        if (pos >= end) {
            throw broken("unexpected end of input");
        }
        byte c = b[pos];
        switch (c) {
            case '"':
                return readString();
            case '{':
                return readObject(depth + 1);
            case '[':
                return readArray(depth + 1);
            case 't':
                literal("true");
                return Boolean.TRUE;
            case 'f':
                literal("false");
                return Boolean.FALSE;
            case 'n':
                literal("null");
                return null;
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return readNumber();
                }
                throw broken("unexpected character '" + printable(c) + "'");
        }
    }

    /** Skips any value without keeping it. */
    void skipValue() {
        long before = allocated;
        readValue(0);
        allocated = before;
    }

    String readString() {
        String s = readStringRaw();
        allocated += lastAscii ? 24 + align(16L + s.length()) : stringSize(s);
        return s;
    }

    private String readStringRaw() {
        skipWhitespace();
        if (pos >= end || b[pos] != '"') {
            throw broken("expected a string");
        }
        int start = ++pos;
        boolean ascii = true;
        pos = Bytes.plainAsciiEnd(b, pos, end);
        while (pos < end) {
            byte c = b[pos];
            if (c == '"') {
                String s = ascii ? new String(b, start, pos - start, StandardCharsets.ISO_8859_1)
                        : new String(b, start, pos - start, StandardCharsets.UTF_8);
                lastAscii = ascii;
                pos++;
                return s;
            }
            if (c == '\\') {
                return readEscaped(start);
            }
            if (c >= 0 && c < 0x20) {
                throw broken("unescaped control character in a string");
            }
            if (c < 0) {
                ascii = false;
            }
            pos++;
        }
        throw broken("unterminated string");
    }

    /** The rest of a string that holds escapes; {@code pos} is at the first backslash. */
    private String readEscaped(int start) {
        StringBuilder sb = text;
        sb.setLength(0);
        lastAscii = false;
        int segment = start;
        while (pos < end) {
            byte c = b[pos];
            if (c == '"') {
                sb.append(new String(b, segment, pos - segment, StandardCharsets.UTF_8));
                pos++;
                return sb.toString();
            }
            if (c >= 0 && c < 0x20) {
                throw broken("unescaped control character in a string");
            }
            if (c != '\\') {
                pos++;
                continue;
            }
            sb.append(new String(b, segment, pos - segment, StandardCharsets.UTF_8));
            if (pos + 1 >= end) {
                throw broken("unterminated string");
            }
            byte e = b[pos + 1];
            pos += 2;
            switch (e) {
                case '"' -> sb.append('"');
                case '\\' -> sb.append('\\');
                case '/' -> sb.append('/');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> {
                    if (pos + 4 > end) {
                        throw broken("bad \\u escape");
                    }
                    int v = 0;
                    for (int i = 0; i < 4; i++) {
                        int d = Character.digit(b[pos + i], 16);
                        if (d < 0) {
                            throw broken("bad \\u escape");
                        }
                        v = v << 4 | d;
                    }
                    pos += 4;
                    sb.append((char) v);
                }
                default -> throw broken("unrecognized escape '\\" + printable(e) + "'");
            }
            segment = pos;
        }
        throw broken("unterminated string");
    }

    private Map<String, Object> readObject(int depth) {
        checkDepth(depth);
        pos++; // '{'
        LinkedHashMap<String, Object> map = new LinkedHashMap<>();
        if (!consume('}')) {
            do {
                String name = readName();
                allocated += stringSize(name);
                if (map.put(name, readValue(depth)) == null) {
                    allocated += 40; // LinkedHashMap.Entry
                }
            } while (more('}'));
        }
        allocated += 56 + arraySize(tableCapacity(map.size()));
        return map;
    }

    private List<Object> readArray(int depth) {
        checkDepth(depth);
        pos++; // '['
        ArrayList<Object> list = new ArrayList<>();
        if (!consume(']')) {
            do {
                list.add(readValue(depth));
            } while (more(']'));
        }
        list.trimToSize();
        allocated += 24 + arraySize(list.size());
        return list;
    }

    private void checkDepth(int depth) {
        if (depth > MAX_DEPTH) {
            throw broken("nested deeper than " + MAX_DEPTH + " levels");
        }
    }

    private void literal(String word) {
        int n = word.length();
        if (pos + n > end) {
            throw broken("unexpected end of input");
        }
        for (int i = 0; i < n; i++) {
            if (b[pos + i] != word.charAt(i)) {
                throw broken("unrecognized token");
            }
        }
        pos += n;
        if (pos < end && isIdentifierByte(b[pos])) {
            throw broken("unrecognized token");
        }
    }

    /** A number: {@code -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?}. */
    Object readNumber() {
        int start = pos;
        boolean negative = false;
        if (b[pos] == '-') {
            negative = true;
            pos++;
        }
        int intStart = pos;
        long unscaled = 0;
        int digits = 0;
        while (pos < end && b[pos] >= '0' && b[pos] <= '9') {
            if (digits < 18) {
                unscaled = unscaled * 10 + (b[pos] - '0');
            }
            digits++;
            pos++;
        }
        int intDigits = pos - intStart;
        if (intDigits == 0) {
            throw broken("bad number");
        }
        if (intDigits > 1 && b[intStart] == '0') {
            throw broken("leading zeros in a number");
        }
        int scale = 0;
        boolean fraction = false;
        if (pos < end && b[pos] == '.') {
            fraction = true;
            pos++;
            int fracStart = pos;
            while (pos < end && b[pos] >= '0' && b[pos] <= '9') {
                if (digits < 18) {
                    unscaled = unscaled * 10 + (b[pos] - '0');
                }
                digits++;
                pos++;
            }
            scale = pos - fracStart;
            if (scale == 0) {
                throw broken("bad number: no digit after the decimal point");
            }
        }
        boolean exponent = false;
        if (pos < end && (b[pos] == 'e' || b[pos] == 'E')) {
            exponent = true;
            pos++;
            if (pos < end && (b[pos] == '+' || b[pos] == '-')) {
                pos++;
            }
            int expStart = pos;
            while (pos < end && b[pos] >= '0' && b[pos] <= '9') {
                pos++;
            }
            if (pos == expStart) {
                throw broken("bad number: no digit in the exponent");
            }
        }
        if (pos < end && isIdentifierByte(b[pos])) {
            throw broken("bad number");
        }
        if (!fraction && !exponent) {
            if (digits <= 18) {
                long v = negative ? -unscaled : unscaled;
                if (v < -128 || v > 127) {
                    allocated += 24; // a Long: 12-byte header, the long 8-aligned
                }
                return v;
            }
            BigInteger big = new BigInteger(new String(b, start, pos - start, StandardCharsets.ISO_8859_1));
            if (big.bitLength() >= 64) {
                throw broken("integer " + big + " out of the 64-bit range");
            }
            allocated += 24;
            return big.longValue();
        }
        BigDecimal d;
        if (!exponent && digits <= 18) {
            d = BigDecimal.valueOf(negative ? -unscaled : unscaled, scale);
            allocated += 40;
        } else {
            d = new BigDecimal(new String(b, start, pos - start, StandardCharsets.ISO_8859_1));
            allocated += 40 + (d.unscaledValue().bitLength() < 64 ? 0 : bigIntegerSize(d.unscaledValue()));
        }
        return d;
    }

    private void skipWhitespace() {
        while (pos < end) {
            byte c = b[pos];
            // Most calls find a token at once: one comparison for every byte above the space.
            if (c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r')) {
                return;
            }
            pos++;
        }
    }

    MalformedLineException broken(String what) {
        return new MalformedLineException("broken JSON: " + what + " at character " + (pos - lineStart + 1));
    }

    private static boolean isIdentifierByte(byte c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
                || c == '-' || c == '+';
    }

    private static String printable(byte c) {
        return c >= 0x20 && c < 0x7f ? String.valueOf((char) c) : String.format("\\x%02x", c & 0xff);
    }

    // ---- heap sizes, 64-bit JVM with compressed references (12-byte headers, 4-byte references)

    /**
     * Whether this JVM compresses references (the default below a 32 GB heap). Without, references
     * take 8 bytes and the figures above are too low: {@link #heap} scales them by 3/2.
     */
    static final boolean COMPRESSED_OOPS = compressedOops();

    private static boolean compressedOops() {
        try {
            com.sun.management.HotSpotDiagnosticMXBean hotspot = java.lang.management.ManagementFactory
                    .getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return hotspot == null || !"false".equals(hotspot.getVMOption("UseCompressedOops").getValue());
        } catch (RuntimeException | LinkageError e) {
            return true;
        }
    }

    /** An item's heap in compressed-reference bytes, as this JVM holds it. */
    static long heap(long compressedBytes) {
        return COMPRESSED_OOPS ? compressedBytes : compressedBytes * 3 / 2;
    }

    /** A String with its array (Latin-1 when it can be, else UTF-16). */
    static long stringSize(String s) {
        int n = s.length();
        boolean latin1 = true;
        for (int i = 0; i < n; i++) {
            if (s.charAt(i) > 0xff) {
                latin1 = false;
                break;
            }
        }
        return 24 + align(16L + (latin1 ? n : 2L * n));
    }

    /** An array of {@code n} references. */
    static long arraySize(int n) {
        return align(16L + 4L * n);
    }

    private static long bigIntegerSize(BigInteger v) {
        return 40 + align(16L + 4L * ((v.bitLength() + 31) / 32));
    }

    private static int tableCapacity(int entries) {
        int capacity = 16;
        while (entries > capacity * 3 / 4) {
            capacity <<= 1;
        }
        return capacity;
    }

    static long align(long bytes) {
        return (bytes + 7) & ~7L;
    }
}
