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
