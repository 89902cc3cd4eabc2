package dev.changepipe.sink.clickhouse;

import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.List;
import java.util.UUID;

/**
 * Quoting for the SQL the sink generates. Identifiers and values from data or configuration are
 * always quoted by these, never concatenated raw.
 */
final class Sql {

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Sql() {
    }

    /** An identifier in backquotes, with backquotes and backslashes escaped. */
    static String identifier(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("an identifier must not be empty");
        }
        StringBuilder b = new StringBuilder(name.length() + 2).append('`');
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '`' || c == '\\') {
                b.append('\\');
            }
            if (c < 0x20) {
                throw new IllegalArgumentException("an identifier must not contain control characters: " + name);
            }
            b.append(c);
        }
        return b.append('`').toString();
    }

    /** {@code `database`.`table`}. */
    static String table(String database, String table) {
        return identifier(database) + "." + identifier(table);
    }

    /** A string literal; bytes outside printable ASCII, quotes and backslashes are escaped. */
    static String string(String s) {
        return string(s.getBytes(StandardCharsets.UTF_8));
    }

    static String string(byte[] bytes) {
        StringBuilder b = new StringBuilder(bytes.length + 2).append('\'');
        for (byte x : bytes) {
            int c = x & 0xFF;
            if (c == '\'' || c == '\\') {
                b.append('\\').append((char) c);
            } else if (c < 0x20 || c >= 0x7F) {
                b.append("\\x").append(HEX[c >> 4]).append(HEX[c & 0xF]);
            } else {
                b.append((char) c);
            }
        }
        return b.append('\'').toString();
    }

    /** A literal for a canonical value of a key column (see {@link Values}). */
    static String literal(ColumnType type, Object v) {
        switch (type.kind()) {
            case INT: case BOOL: return Long.toString((Long) v);
            case UINT: return Long.toUnsignedString((Long) v);
            case STRING: case FIXED_STRING: return v instanceof String s ? string(s) : string((byte[]) v);
            case UUID: return "toUUID(" + string(((UUID) v).toString()) + ")";
            case DATE: return "toDate(" + string(LocalDate.ofEpochDay((Long) v).toString()) + ")";
            case DATETIME: return "toDateTime(" + v + ")";
            case NULLABLE: return v == null ? "NULL" : literal(type.element(), v);
            default:
                throw new IllegalArgumentException("a key column of type " + type + " cannot be looked up");
        }
    }

    /** {@code (a, b, c)} of quoted identifiers. */
    static String identifiers(List<String> names) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) {
                b.append(", ");
            }
            b.append(identifier(names.get(i)));
        }
        return b.append(')').toString();
    }

    /**
     * The identifiers an expression of the server's (a partition or sorting key, a column's default
     * expression, as {@code system.tables} and {@code system.columns} spell them) names, in order, each
     * once: bare ({@code created_date}) and quoted ({@code `odd col`}, {@code "x"}) names, but not
     * function names (an identifier followed by {@code (}), string literals or numbers. The caller keeps
     * those that are columns of the table, e.g. {@code created_date} of {@code toYYYYMM(created_date)}.
     */
    static List<String> identifiersOf(String expression) {
        java.util.LinkedHashSet<String> names = new java.util.LinkedHashSet<>();
        int i = 0;
        int n = expression.length();
        while (i < n) {
            char c = expression.charAt(i);
            if (c == '\'') {
                i = skipQuoted(expression, i, '\'', null);
            } else if (c == '`' || c == '"') {
                StringBuilder name = new StringBuilder();
                i = skipQuoted(expression, i, c, name);
                names.add(name.toString());
            } else if (Character.isLetter(c) || c == '_') {
                int start = i;
                while (i < n && (Character.isLetterOrDigit(expression.charAt(i)) || expression.charAt(i) == '_')) {
                    i++;
                }
                int next = i;
                while (next < n && Character.isWhitespace(expression.charAt(next))) {
                    next++;
                }
                if (next >= n || expression.charAt(next) != '(') {
                    names.add(expression.substring(start, i));
                }
            } else if (Character.isDigit(c)) {
                while (i < n && (Character.isLetterOrDigit(expression.charAt(i)) || expression.charAt(i) == '.'
                        || expression.charAt(i) == '_')) {
                    i++; // 8192, 1e5, 0x1F, 1.5
                }
            } else {
                i++;
            }
        }
        return List.copyOf(names);
    }

    /** Skips a quoted token starting at {@code start}; collects its unescaped text when {@code into} is given. */
    private static int skipQuoted(String s, int start, char quote, StringBuilder into) {
        int i = start + 1;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                if (into != null) {
                    into.append(s.charAt(i + 1));
                }
                i += 2;
            } else if (c == quote) {
                if (i + 1 < s.length() && s.charAt(i + 1) == quote) { // doubled quote
                    if (into != null) {
                        into.append(quote);
                    }
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                if (into != null) {
                    into.append(c);
                }
                i++;
            }
        }
        return i;
    }

    /** Undoes TabSeparated escaping of one field. */
    static String unescapeTsv(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                switch (n) {
                    case 't': b.append('\t'); break;
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case '0': b.append('\0'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    default: b.append(n);
                }
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
