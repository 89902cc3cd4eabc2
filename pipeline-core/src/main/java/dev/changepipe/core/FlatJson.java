package dev.changepipe.core;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The JSON of one flat object of strings, integers, booleans and nulls: what the dead-letter file
 * holds, written and read without a JSON library in the core.
 */
final class FlatJson {

    private FlatJson() {
    }

    /** Appends {@code s} as a JSON string. */
    static StringBuilder quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"');
    }

    /**
     * Appends a value as JSON: strings, numbers, booleans, null, maps and iterables as such, byte
     * arrays as UTF-8 text, anything else as its string.
     */
    static StringBuilder write(StringBuilder b, Object value) {
        if (value == null) {
            return b.append("null");
        }
        if (value instanceof Number || value instanceof Boolean) {
            String n = value.toString();
            boolean finite = !(value instanceof Double d && (d.isNaN() || d.isInfinite()))
                    && !(value instanceof Float f && (f.isNaN() || f.isInfinite()));
            return finite ? b.append(n) : quote(b, n);
        }
        if (value instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote(b, String.valueOf(e.getKey())).append(':');
                write(b, e.getValue());
            }
            return b.append('}');
        }
        if (value instanceof Iterable<?> it) {
            b.append('[');
            boolean first = true;
            for (Object o : it) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(b, o);
            }
            return b.append(']');
        }
        if (value instanceof byte[] bytes) {
            return quote(b, new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
        }
        return quote(b, value.toString());
    }

    /**
     * Parses one flat object; integers become {@code Long}, strings {@code String}.
     *
     * @throws IllegalArgumentException when {@code text} is not such an object
     */
    static Map<String, Object> parse(String text) {
        Map<String, Object> out = new LinkedHashMap<>();
        int[] pos = {skip(text, 0)};
        expect(text, pos, '{');
        if (peek(text, pos) == '}') {
            pos[0]++;
            return out;
        }
        while (true) {
            String name = string(text, pos);
            expect(text, pos, ':');
            out.put(name, value(text, pos));
            char c = peek(text, pos);
            pos[0]++;
            if (c == '}') {
                break;
            }
            if (c != ',') {
                throw new IllegalArgumentException("expected , or } at " + (pos[0] - 1));
            }
        }
        if (skip(text, pos[0]) != text.length()) {
            throw new IllegalArgumentException("text after the object");
        }
        return out;
    }

    private static Object value(String t, int[] pos) {
        char c = peek(t, pos);
        if (c == '"') {
            return string(t, pos);
        }
        int start = pos[0];
        while (pos[0] < t.length() && ",}] \t".indexOf(t.charAt(pos[0])) < 0) {
            pos[0]++;
        }
        String word = t.substring(start, pos[0]);
        switch (word) {
            case "null": return null;
            case "true": return Boolean.TRUE;
            case "false": return Boolean.FALSE;
            default:
                try {
                    return Long.parseLong(word);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("unsupported value " + word);
                }
        }
    }

    private static String string(String t, int[] pos) {
        expect(t, pos, '"');
        StringBuilder b = new StringBuilder();
        while (true) {
            if (pos[0] >= t.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
            char c = t.charAt(pos[0]++);
            if (c == '"') {
                return b.toString();
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            if (pos[0] >= t.length()) {
                throw new IllegalArgumentException("unterminated escape");
            }
            char e = t.charAt(pos[0]++);
            switch (e) {
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'u' -> {
                    if (pos[0] + 4 > t.length()) {
                        throw new IllegalArgumentException("short \\u escape");
                    }
                    b.append((char) Integer.parseInt(t.substring(pos[0], pos[0] + 4), 16));
                    pos[0] += 4;
                }
                default -> b.append(e);
            }
        }
    }

    private static void expect(String t, int[] pos, char c) {
        if (peek(t, pos) != c) {
            throw new IllegalArgumentException("expected " + c + " at " + pos[0]);
        }
        pos[0]++;
    }

    private static char peek(String t, int[] pos) {
        pos[0] = skip(t, pos[0]);
        if (pos[0] >= t.length()) {
            throw new IllegalArgumentException("unexpected end");
        }
        return t.charAt(pos[0]);
    }

    private static int skip(String t, int i) {
        while (i < t.length() && Character.isWhitespace(t.charAt(i))) {
            i++;
        }
        return i;
    }
}
