package dev.changepipe.source.cdc;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.HexFormat;

/**
 * PostgreSQL's text form of a value (what {@code pgoutput} sends, and what the snapshot reads with
 * {@code ::text}) as the Java value the sinks take, by the column's type OID: integers {@code Long},
 * {@code numeric} {@code BigDecimal}, floats {@code Double}, {@code boolean} {@code Boolean},
 * {@code date}, {@code time}, {@code timestamp} and {@code timestamptz} their {@code java.time} types,
 * {@code bytea} {@code byte[]}, {@code json} and {@code jsonb} a {@link dev.changepipe.core.JsonValue}
 * (so that a sink writes the document, not a string of it), an array of any of these or of text a
 * {@code List} of its elements' values (nested for several dimensions); every other type (text, uuid,
 * enums, ...) its text.
 * A text that does not parse as its type ({@code infinity}, a BC date, {@code NaN}) stays text, for the
 * sink to take or refuse as one bad value.
 */
final class TextValues {

    static final int BOOL = 16;
    static final int BYTEA = 17;
    static final int INT8 = 20;
    static final int INT2 = 21;
    static final int INT4 = 23;
    static final int OID = 26;
    static final int FLOAT4 = 700;
    static final int FLOAT8 = 701;
    static final int DATE = 1082;
    static final int TIME = 1083;
    static final int TIMESTAMP = 1114;
    static final int TIMESTAMPTZ = 1184;
    static final int NUMERIC = 1700;
    static final int UUID = 2950;
    static final int JSON = 114;
    static final int JSONB = 3802;


    /**
     * The element type of an array type this reads as a list ({@code _int4} is {@code int4}'s...), or -1:
     * a switch, since every text value of the stream asks it.
     */
    private static int arrayElement(int typeOid) {
        return switch (typeOid) {
            case 1000 -> BOOL;
            case 1001 -> BYTEA;
            case 1005 -> INT2;
            case 1007 -> INT4;
            case 1016 -> INT8;
            case 1028 -> OID;
            case 1021 -> FLOAT4;
            case 1022 -> FLOAT8;
            case 1231 -> NUMERIC;
            case 1182 -> DATE;
            case 1183 -> TIME;
            case 1115 -> TIMESTAMP;
            case 1185 -> TIMESTAMPTZ;
            case 2951 -> UUID;
            case 199 -> JSON;
            case 3807 -> JSONB;
            // text, varchar, char, name: their elements stay text
            case 1009 -> 25;
            case 1015 -> 1043;
            case 1014 -> 1042;
            case 1003 -> 19;
            default -> -1;
        };
    }

    private static final DateTimeFormatter LOCAL = new DateTimeFormatterBuilder()
            .append(DateTimeFormatter.ISO_LOCAL_DATE)
            .appendLiteral(' ')
            .append(DateTimeFormatter.ISO_LOCAL_TIME)
            .toFormatter();

    /** {@code 2024-01-02 03:04:05.123456+00}, {@code +05:30} or {@code +05:30:12}. */
    private static final DateTimeFormatter ZONED = new DateTimeFormatterBuilder()
            .append(LOCAL)
            .optionalStart().appendOffset("+HH:MM:ss", "+00").optionalEnd()
            .optionalStart().appendOffset("+HH", "+00").optionalEnd()
            .parseDefaulting(ChronoField.OFFSET_SECONDS, 0)
            .toFormatter();

    private TextValues() {
    }

    /**
     * {@code YYYY-MM-DD HH:MM:SS[.f...]} in {@code text[0, end)} read digit by digit (the formatter costs
     * several times more); {@code null} for any other shape, which the formatter then reads or refuses.
     */
    static LocalDateTime localDateTime(String text, int end) {
        if (end < 19 || text.charAt(4) != '-' || text.charAt(7) != '-' || text.charAt(10) != ' '
                || text.charAt(13) != ':' || text.charAt(16) != ':') {
            return null;
        }
        int year = digits(text, 0, 4);
        int month = digits(text, 5, 2);
        int day = digits(text, 8, 2);
        int hour = digits(text, 11, 2);
        int minute = digits(text, 14, 2);
        int second = digits(text, 17, 2);
        int nanos = 0;
        if (end > 19) {
            if (text.charAt(19) != '.' || end > 29 || end == 20) {
                return null;
            }
            int fraction = digits(text, 20, end - 20);
            if (fraction < 0) {
                return null;
            }
            nanos = fraction;
            for (int i = end - 20; i < 9; i++) {
                nanos *= 10;
            }
        }
        if ((year | month | day | hour | minute | second) < 0 || month < 1 || month > 12 || day < 1 || day > 28
                && day > LocalDate.of(year, month, 1).lengthOfMonth() || hour > 23 || minute > 59 || second > 59) {
            return null;
        }
        return LocalDateTime.of(year, month, day, hour, minute, second, nanos);
    }

    /** The number the {@code count} digits at {@code from} spell, or -1 when one is not a digit. */
    private static int digits(String s, int from, int count) {
        int n = 0;
        for (int i = from; i < from + count; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /** How a column of this type is compared and created in a target ({@link dev.changepipe.spi.TableDigest.Kind}). */
    static dev.changepipe.spi.TableDigest.Column column(String name, int typeOid, int typeModifier) {
        dev.changepipe.spi.TableDigest.Kind kind;
        int scale = 0;
        switch (typeOid) {
            case INT2:
            case INT4:
            case INT8:
            case OID:
            case BOOL:
                kind = dev.changepipe.spi.TableDigest.Kind.INTEGER;
                break;
            case NUMERIC:
                // numeric(p, s): typmod = (p << 16 | s) + 4; a numeric without them stays text
                kind = typeModifier >= 4 ? dev.changepipe.spi.TableDigest.Kind.DECIMAL : dev.changepipe.spi.TableDigest.Kind.STRING;
                scale = typeModifier >= 4 ? (typeModifier - 4) & 0xFFFF : 0;
                break;
            case FLOAT4:
                kind = dev.changepipe.spi.TableDigest.Kind.FLOAT;
                scale = 4;
                break;
            case FLOAT8:
                kind = dev.changepipe.spi.TableDigest.Kind.FLOAT;
                scale = 8;
                break;
            case DATE:
                kind = dev.changepipe.spi.TableDigest.Kind.DATE;
                break;
            case TIMESTAMP:
            case TIMESTAMPTZ:
                kind = dev.changepipe.spi.TableDigest.Kind.DATETIME;
                break;
            case UUID:
                kind = dev.changepipe.spi.TableDigest.Kind.UUID;
                break;
            default:
                kind = dev.changepipe.spi.TableDigest.Kind.STRING;
        }
        return new dev.changepipe.spi.TableDigest.Column(name, kind, scale, "UTC", true);
    }

    /**
     * A {@code numeric}'s text of at most 18 digits ({@code -123.45}) as the {@code BigDecimal} its
     * constructor makes, without it (its string parsing was 6 % of a snapshot's CPU); null for any other
     * form ({@code NaN}, an exponent, more digits), which the constructor reads.
     */
    static BigDecimal decimal(String text) {
        int n = text.length();
        int i = n > 0 && text.charAt(0) == '-' ? 1 : 0;
        if (n == i || n - i > 19) {
            return null;
        }
        long unscaled = 0;
        int digits = 0;
        int scale = -1;
        for (; i < n; i++) {
            char c = text.charAt(i);
            if (c >= '0' && c <= '9') {
                unscaled = unscaled * 10 + (c - '0');
                digits++;
                if (scale >= 0) {
                    scale++;
                }
            } else if (c == '.' && scale < 0) {
                scale = 0;
            } else {
                return null;
            }
        }
        if (digits == 0 || digits > 18 || scale == 0) {
            return null;
        }
        return BigDecimal.valueOf(text.charAt(0) == '-' ? -unscaled : unscaled, Math.max(scale, 0));
    }

    static Object convert(int typeOid, String text) {
        if (text == null) {
            return null;
        }
        try {
            switch (typeOid) {
                case INT2:
                case INT4:
                case INT8:
                case OID:
                    return Long.parseLong(text);
                case NUMERIC: {
                    BigDecimal fast = decimal(text);
                    return fast != null ? fast : new BigDecimal(text);
                }
                case FLOAT4:
                case FLOAT8:
                    return Double.parseDouble(text);
                case BOOL:
                    return text.equals("t") || text.equals("true");
                case DATE:
                    return LocalDate.parse(text);
                case TIME:
                    return LocalTime.parse(text);
                case TIMESTAMP: {
                    LocalDateTime fast = localDateTime(text, text.length());
                    return fast != null ? fast : LocalDateTime.parse(text, LOCAL);
                }
                case TIMESTAMPTZ: {
                    // the source's sessions write UTC: "...+00"
                    LocalDateTime fast = text.endsWith("+00") ? localDateTime(text, text.length() - 3) : null;
                    return fast != null ? fast.atOffset(ZoneOffset.UTC)
                            : OffsetDateTime.parse(text, ZONED).withOffsetSameInstant(ZoneOffset.UTC);
                }
                case BYTEA:
                    return text.startsWith("\\x") ? HexFormat.of().parseHex(text, 2, text.length()) : text;
                case JSON:
                case JSONB:
                    return new dev.changepipe.core.JsonValue(text);
                default:
                    int element = arrayElement(typeOid);
                    return element < 0 ? text : array(text, element);
            }
        } catch (NumberFormatException | DateTimeParseException e) {
            return text;
        }
    }

    /**
     * An array's text ({@code {a,"b c",NULL}}, {@code {{1,2},{3,4}}}, with or without its bounds
     * {@code [0:1]=}) as a list of its elements converted by their type; the text itself when it is not
     * one.
     */
    static Object array(String text, int elementType) {
        int start = text.startsWith("[") ? text.indexOf('=') + 1 : 0;
        int[] at = {start};
        try {
            java.util.List<Object> out = arrayAt(text, at, elementType);
            return at[0] == text.length() ? out : text;
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            return text;
        }
    }

    private static java.util.List<Object> arrayAt(String text, int[] at, int elementType) {
        if (text.charAt(at[0]) != '{') {
            throw new IllegalArgumentException("not an array");
        }
        at[0]++;
        java.util.List<Object> out = new java.util.ArrayList<>();
        if (text.charAt(at[0]) == '}') {
            at[0]++;
            return out;
        }
        while (true) {
            char c = text.charAt(at[0]);
            if (c == '{') {
                out.add(arrayAt(text, at, elementType));
            } else if (c == '"') {
                StringBuilder b = new StringBuilder();
                at[0]++;
                for (char e = text.charAt(at[0]); e != '"'; e = text.charAt(at[0])) {
                    if (e == '\\') {
                        at[0]++;
                        e = text.charAt(at[0]);
                    }
                    b.append(e);
                    at[0]++;
                }
                at[0]++;
                out.add(convert(elementType, b.toString()));
            } else {
                int end = at[0];
                while (text.charAt(end) != ',' && text.charAt(end) != '}') {
                    end++;
                }
                String e = text.substring(at[0], end).trim();
                at[0] = end;
                out.add(e.equalsIgnoreCase("NULL") ? null : convert(elementType, e));
            }
            char next = text.charAt(at[0]++);
            if (next == '}') {
                return out;
            }
            if (next != ',') {
                throw new IllegalArgumentException("not an array");
            }
        }
    }
}
