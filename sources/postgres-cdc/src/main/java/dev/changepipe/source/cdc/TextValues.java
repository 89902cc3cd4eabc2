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
 * {@code bytea} {@code byte[]}; every other type (text, uuid, json, arrays, enums, ...) its text.
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
                case NUMERIC:
                    return new BigDecimal(text);
                case FLOAT4:
                case FLOAT8:
                    return Double.parseDouble(text);
                case BOOL:
                    return text.equals("t") || text.equals("true");
                case DATE:
                    return LocalDate.parse(text);
                case TIME:
                    return LocalTime.parse(text);
                case TIMESTAMP:
                    return LocalDateTime.parse(text, LOCAL);
                case TIMESTAMPTZ:
                    return OffsetDateTime.parse(text, ZONED).withOffsetSameInstant(ZoneOffset.UTC);
                case BYTEA:
                    return text.startsWith("\\x") ? HexFormat.of().parseHex(text, 2, text.length()) : text;
                default:
                    return text;
            }
        } catch (NumberFormatException | DateTimeParseException e) {
            return text;
        }
    }
}
