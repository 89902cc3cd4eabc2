package dev.changepipe.sink.clickhouse;

import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A ClickHouse column type as the server spells it in {@code system.columns}, parsed into what the
 * sink needs to convert and encode values. {@code LowCardinality(T)} is read as {@code T} (same
 * encoding in RowBinary and TabSeparated). Types the sink cannot write are {@link Kind#UNSUPPORTED}:
 * such a column is left out of inserts (the server fills its default) and a value for it fails.
 *
 * @param kind the type family
 * @param text the type as the server spelled it
 * @param bytes width in bytes of integers, Decimal's storage width, FixedString's length
 * @param precision Decimal's precision (digits), otherwise 0
 * @param scale Decimal's scale, DateTime64's precision
 * @param zone DateTime's time zone for strings without an offset (UTC unless the type names one)
 * @param element the element of an Array, the inner type of a Nullable, otherwise {@code null}
 */
record ColumnType(Kind kind, String text, int bytes, int precision, int scale, ZoneId zone, ColumnType element) {

    /** Type families the sink converts and encodes. */
    enum Kind {
        INT, UINT, FLOAT32, FLOAT64, DECIMAL, STRING, FIXED_STRING, UUID, DATE, DATETIME, DATETIME64,
        BOOL, NULLABLE, ARRAY, UNSUPPORTED
    }

    /** Whether values of this type can be written (recursively). */
    boolean supported() {
        return kind != Kind.UNSUPPORTED && (element == null || element.supported());
    }

    /** Parses a type name such as {@code Array(Nullable(Decimal(10, 2)))}. */
    static ColumnType parse(String text) {
        String t = text.trim();
        int open = t.indexOf('(');
        String name = open < 0 ? t : t.substring(0, open).trim();
        List<String> args = open < 0 ? List.of() : splitArgs(t.substring(open + 1, t.lastIndexOf(')')));
        switch (name) {
            case "Int8": return integer(t, Kind.INT, 1);
            case "Int16": return integer(t, Kind.INT, 2);
            case "Int32": return integer(t, Kind.INT, 4);
            case "Int64": return integer(t, Kind.INT, 8);
            case "UInt8": return integer(t, Kind.UINT, 1);
            case "UInt16": return integer(t, Kind.UINT, 2);
            case "UInt32": return integer(t, Kind.UINT, 4);
            case "UInt64": return integer(t, Kind.UINT, 8);
            case "Float32": return simple(t, Kind.FLOAT32, 4);
            case "Float64": return simple(t, Kind.FLOAT64, 8);
            case "Bool": case "Boolean": return simple(t, Kind.BOOL, 1);
            case "String": return simple(t, Kind.STRING, 0);
            case "UUID": return simple(t, Kind.UUID, 16);
            case "Date": return simple(t, Kind.DATE, 2);
            case "FixedString":
                return new ColumnType(Kind.FIXED_STRING, t, Integer.parseInt(args.get(0).trim()), 0, 0, null, null);
            case "DateTime":
                return new ColumnType(Kind.DATETIME, t, 4, 0, 0, args.isEmpty() ? ZoneOffset.UTC : zone(args.get(0)), null);
            case "DateTime64":
                return new ColumnType(Kind.DATETIME64, t, 8, 0, Integer.parseInt(args.get(0).trim()), 
                        args.size() < 2 ? ZoneOffset.UTC : zone(args.get(1)), null);
            case "Decimal": {
                int precision = Integer.parseInt(args.get(0).trim());
                return decimal(t, precision, Integer.parseInt(args.get(1).trim()));
            }
            case "Decimal32": return decimal(t, 9, Integer.parseInt(args.get(0).trim()));
            case "Decimal64": return decimal(t, 18, Integer.parseInt(args.get(0).trim()));
            case "Decimal128": return decimal(t, 38, Integer.parseInt(args.get(0).trim()));
            case "Nullable": return new ColumnType(Kind.NULLABLE, t, 0, 0, 0, null, parse(args.get(0)));
            case "Array": return new ColumnType(Kind.ARRAY, t, 0, 0, 0, null, parse(args.get(0)));
            case "LowCardinality": {
                ColumnType inner = parse(args.get(0));
                return new ColumnType(inner.kind, t, inner.bytes, inner.precision, inner.scale, inner.zone, inner.element);
            }
            default: return simple(t, Kind.UNSUPPORTED, 0);
        }
    }

    private static ColumnType integer(String text, Kind kind, int bytes) {
        return new ColumnType(kind, text, bytes, 0, 0, null, null);
    }

    private static ColumnType simple(String text, Kind kind, int bytes) {
        return new ColumnType(kind, text, bytes, 0, 0, null, null);
    }

    private static ColumnType decimal(String text, int precision, int scale) {
        if (precision > 38 || scale > precision) {
            return simple(text, Kind.UNSUPPORTED, 0);
        }
        int bytes = precision <= 9 ? 4 : precision <= 18 ? 8 : 16;
        return new ColumnType(Kind.DECIMAL, text, bytes, precision, scale, null, null);
    }

    private static ZoneId zone(String quoted) {
        String z = quoted.trim();
        if (z.startsWith("'") && z.endsWith("'")) {
            z = z.substring(1, z.length() - 1);
        }
        return ZoneId.of(z);
    }

    private static List<String> splitArgs(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        boolean quoted = false;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quoted) {
                if (c == '\\') {
                    i++;
                } else if (c == '\'') {
                    quoted = false;
                }
            } else if (c == '\'') {
                quoted = true;
            } else if (c == '(') {
                depth++;
            } else if (c == ')') {
                depth--;
            } else if (c == ',' && depth == 0) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    @Override
    public String toString() {
        return text;
    }

    String lowerName() {
        return kind.name().toLowerCase(Locale.ROOT);
    }
}
