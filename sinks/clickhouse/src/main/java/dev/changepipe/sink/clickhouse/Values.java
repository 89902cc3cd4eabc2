package dev.changepipe.sink.clickhouse;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.TemporalAccessor;
import java.util.ArrayList;
import java.util.Date;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Converts values of change items (Long, BigDecimal, String, Boolean, null, List, Map, and also
 * Integer, Double, java.time types, UUID, byte[]) into the canonical Java value of a column type,
 * which the encoders write without further checks:
 *
 * <ul>
 *   <li>Int*, UInt*, Bool, Date (days), DateTime (seconds), DateTime64 (ticks): {@code Long}
 *       (UInt64 as its two's-complement bits)</li>
 *   <li>Float32, Float64: {@code Double}</li>
 *   <li>Decimal: the unscaled value, {@code Long} up to 18 digits, {@code BigInteger} beyond</li>
 *   <li>String: {@code byte[]} or {@code String} (written as UTF-8); FixedString: {@code byte[]}</li>
 *   <li>UUID: {@code UUID}; Nullable: {@code null} or the inner value; Array: {@code List}</li>
 * </ul>
 *
 * Stateless and thread-safe. A value that cannot be converted throws {@link ConversionException}
 * with the reason; the caller adds table, column and key.
 */
final class Values {

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    private static final byte[] EMPTY = new byte[0];

    private Values() {
    }

    /** A value that does not fit its column's type. */
    static final class ConversionException extends RuntimeException {
        ConversionException(String message) {
            super(message, null, false, false);
        }
    }

    /** The value a column takes when a row has none for it: ClickHouse's default of the type. */
    static Object zero(ColumnType type) {
        switch (type.kind()) {
            case FLOAT32: case FLOAT64: return 0.0d;
            case DECIMAL: return type.bytes() <= 8 ? (Object) 0L : BigInteger.ZERO;
            case STRING: return EMPTY;
            case FIXED_STRING: return new byte[type.bytes()];
            case UUID: return new UUID(0, 0);
            case NULLABLE: return null;
            case ARRAY: return List.of();
            default: return 0L;
        }
    }

    /** Converts {@code value} to the canonical value of {@code type}. */
    static Object convert(ColumnType type, Object value) {
        if (value == null) {
            if (type.kind() == ColumnType.Kind.NULLABLE) {
                return null;
            }
            throw new ConversionException("null for a column that is not Nullable");
        }
        switch (type.kind()) {
            case NULLABLE: return convert(type.element(), value);
            case INT: return boxed(value, toSigned(value, type.bytes()));
            case UINT: return boxed(value, toUnsigned(value, type.bytes()));
            case BOOL: return toBool(value);
            case FLOAT32: case FLOAT64: return toDouble(value);
            case DECIMAL: return toDecimal(value, type);
            case STRING: return value instanceof String ? value : toBytes(value); // encoders write Strings as UTF-8
            case FIXED_STRING: {
                byte[] b = toBytes(value);
                if (b.length > type.bytes()) {
                    throw new ConversionException(b.length + " bytes do not fit " + type);
                }
                return b;
            }
            case UUID: return toUuid(value);
            case DATE: return toDays(value);
            case DATETIME: return boxed(value, toSeconds(value, type.zone()));
            case DATETIME64: return toTicks(value, type);
            case ARRAY: return toList(value, type.element());
            default: throw new ConversionException("the column type " + type + " is not supported by this sink");
        }
    }

    /** The value itself when it is already the {@code Long} wanted (saves an allocation per value). */
    private static Object boxed(Object value, long converted) {
        return value instanceof Long l && l == converted ? value : (Object) converted;
    }

    private static final long[] POW10 = new long[19];

    static {
        POW10[0] = 1;
        for (int i = 1; i < POW10.length; i++) {
            POW10[i] = POW10[i - 1] * 10;
        }
    }

    private static boolean isSmallInteger(Object value) {
        return value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte;
    }

    private static long toSigned(Object value, int bytes) {
        if (isSmallInteger(value)) {
            long v = ((Number) value).longValue();
            if (bytes < 8) {
                long bound = 1L << (bytes * 8 - 1);
                if (v < -bound || v >= bound) {
                    throw new ConversionException(v + " is out of range for Int" + bytes * 8);
                }
            }
            return v;
        }
        BigInteger v = integral(value);
        int bits = bytes * 8;
        if (v.bitLength() > bits - 1) {
            throw new ConversionException(v + " is out of range for Int" + bits);
        }
        return v.longValue();
    }

    private static long toUnsigned(Object value, int bytes) {
        if (isSmallInteger(value)) {
            long v = ((Number) value).longValue();
            if (v < 0 || (bytes < 8 && v >= 1L << (bytes * 8))) {
                throw new ConversionException(v + " is out of range for UInt" + bytes * 8);
            }
            return v;
        }
        BigInteger v = integral(value);
        int bits = bytes * 8;
        if (v.signum() < 0 || (bits == 64 ? v.compareTo(UINT64_MAX) > 0 : v.bitLength() > bits)) {
            throw new ConversionException(v + " is out of range for UInt" + bits);
        }
        return v.longValue();
    }

    private static long toBool(Object value) {
        if (value instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return toUnsigned(value, 1);
    }

    private static BigInteger integral(Object value) {
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return BigInteger.valueOf(((Number) value).longValue());
        }
        if (value instanceof BigInteger b) {
            return b;
        }
        if (value instanceof Boolean b) {
            return b ? BigInteger.ONE : BigInteger.ZERO;
        }
        BigDecimal d;
        if (value instanceof BigDecimal bd) {
            d = bd;
        } else if (value instanceof Double || value instanceof Float) {
            double x = ((Number) value).doubleValue();
            if (Double.isNaN(x) || Double.isInfinite(x)) {
                throw new ConversionException(x + " is not an integer");
            }
            d = BigDecimal.valueOf(x);
        } else if (value instanceof String s) {
            try {
                d = new BigDecimal(s.trim());
            } catch (NumberFormatException e) {
                throw new ConversionException("'" + s + "' is not a number");
            }
        } else {
            throw new ConversionException(kind(value) + " is not an integer");
        }
        try {
            return d.toBigIntegerExact();
        } catch (ArithmeticException e) {
            throw new ConversionException(d + " is not an integer");
        }
    }

    private static double toDouble(Object value) {
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        if (value instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new ConversionException("'" + s + "' is not a number");
            }
        }
        if (value instanceof Boolean b) {
            return b ? 1 : 0;
        }
        throw new ConversionException(kind(value) + " is not a number");
    }

    /** The unscaled value: a {@code Long} for Decimal32 and Decimal64, a {@code BigInteger} for Decimal128. */
    private static Object toDecimal(Object value, ColumnType type) {
        if (type.bytes() <= 8) {
            long fast = fastDecimal(value, type);
            if (fast != Long.MIN_VALUE) {
                return fast;
            }
        }
        BigDecimal d;
        if (value instanceof BigDecimal bd) {
            d = bd;
        } else if (value instanceof Long || value instanceof Integer || value instanceof BigInteger) {
            d = new BigDecimal(integral(value));
        } else if (value instanceof Double || value instanceof Float) {
            d = BigDecimal.valueOf(((Number) value).doubleValue());
        } else if (value instanceof String s) {
            try {
                d = new BigDecimal(s.trim());
            } catch (NumberFormatException e) {
                throw new ConversionException("'" + s + "' is not a number");
            }
        } else {
            throw new ConversionException(kind(value) + " is not a number");
        }
        BigDecimal scaled;
        try {
            scaled = d.setScale(type.scale(), RoundingMode.UNNECESSARY);
        } catch (ArithmeticException e) {
            throw new ConversionException(d + " has more than " + type.scale() + " decimal places");
        }
        BigInteger unscaled = scaled.unscaledValue();
        if (unscaled.abs().toString().length() > type.precision()) {
            throw new ConversionException(d + " does not fit " + type);
        }
        return type.bytes() <= 8 ? (Object) unscaled.longValue() : unscaled;
    }

    /** The unscaled long of a value that converts without rounding, or {@code Long.MIN_VALUE} to take the slow path. */
    static long fastDecimal(Object value, ColumnType type) {
        long unscaled;
        int scale;
        if (value instanceof BigDecimal bd && bd.precision() <= 18 && bd.scale() >= 0) {
            scale = bd.scale();
            // exact: at most 18 digits fit a long; unlike unscaledValue(), no BigInteger is built
            unscaled = scale == 0 ? bd.longValue() : bd.scaleByPowerOfTen(scale).longValue();
        } else if (isSmallInteger(value)) {
            unscaled = ((Number) value).longValue();
            scale = 0;
        } else if (value instanceof String s) {
            // plain decimal text, as Django serializes a Decimal: [-]digits[.digits], at most 18 digits
            int n = s.length();
            int i = n > 0 && (s.charAt(0) == '-' || s.charAt(0) == '+') ? 1 : 0;
            boolean negative = i == 1 && s.charAt(0) == '-';
            long v = 0;
            int digitCount = 0;
            int dot = -1;
            for (; i < n; i++) {
                char c = s.charAt(i);
                if (c == '.' && dot < 0) {
                    dot = i;
                } else if (c >= '0' && c <= '9' && digitCount < 18) {
                    v = v * 10 + (c - '0');
                    digitCount++;
                } else {
                    return Long.MIN_VALUE; // anything else, or more digits: the slow path decides
                }
            }
            if (digitCount == 0 || dot == n - 1) {
                return Long.MIN_VALUE;
            }
            unscaled = negative ? -v : v;
            scale = dot < 0 ? 0 : n - dot - 1;
        } else {
            return Long.MIN_VALUE;
        }
        if (scale > type.scale()) {
            return Long.MIN_VALUE;
        }
        long factor = POW10[type.scale() - scale];
        long result;
        try {
            result = Math.multiplyExact(unscaled, factor);
        } catch (ArithmeticException overflow) {
            return Long.MIN_VALUE;
        }
        long bound = POW10[type.precision()];
        if (result <= -bound || result >= bound || result == Long.MIN_VALUE) {
            return Long.MIN_VALUE; // the slow path reports it
        }
        return result;
    }

    static byte[] toBytes(Object value) {
        if (value instanceof byte[] b) {
            return b;
        }
        if (value instanceof String s) {
            return s.getBytes(StandardCharsets.UTF_8);
        }
        if (value instanceof BigDecimal d) {
            return d.toPlainString().getBytes(StandardCharsets.UTF_8);
        }
        if (value instanceof Map<?, ?> || value instanceof List<?>) {
            StringBuilder json = new StringBuilder();
            Json.write(json, value);
            return json.toString().getBytes(StandardCharsets.UTF_8);
        }
        return String.valueOf(value).getBytes(StandardCharsets.UTF_8);
    }

    private static UUID toUuid(Object value) {
        if (value instanceof UUID u) {
            return u;
        }
        if (value instanceof String s) {
            try {
                return UUID.fromString(s.trim());
            } catch (IllegalArgumentException e) {
                throw new ConversionException("'" + s + "' is not a UUID");
            }
        }
        throw new ConversionException(kind(value) + " is not a UUID");
    }

    private static long toDays(Object value) {
        if (value instanceof LocalDate d) {
            return checkDate(d.toEpochDay());
        }
        if (value instanceof Number) {
            return checkDate(toSigned(value, 8));
        }
        if (value instanceof String s) {
            String t = s.trim();
            try {
                if (t.length() == 10) {
                    return checkDate(LocalDate.parse(t).toEpochDay());
                }
            } catch (DateTimeParseException e) {
                throw new ConversionException("'" + s + "' is not an ISO date");
            }
            return checkDate(Math.floorDiv(toSeconds(value, java.time.ZoneOffset.UTC), 86_400L));
        }
        return checkDate(Math.floorDiv(toSeconds(value, java.time.ZoneOffset.UTC), 86_400L));
    }

    private static long checkDate(long days) {
        if (days < 0 || days > 0xFFFF) {
            throw new ConversionException("day " + days + " is outside the range of Date (1970-01-01 to 2149-06-06)");
        }
        return days;
    }

    private static long toSeconds(Object value, ZoneId zone) {
        if (isSmallInteger(value)) {
            long v = ((Number) value).longValue();
            if (v < 0 || v > 0xFFFF_FFFFL) {
                throw new ConversionException(value + " is outside the range of DateTime");
            }
            return v;
        }
        long seconds = Math.floorDiv(toNanos(value, zone), 1_000_000_000L);
        if (seconds < 0 || seconds > 0xFFFF_FFFFL) {
            throw new ConversionException(value + " is outside the range of DateTime");
        }
        return seconds;
    }

    private static long toTicks(Object value, ColumnType type) {
        long nanos = toNanos(value, type.zone());
        long divisor = 1;
        for (int i = type.scale(); i < 9; i++) {
            divisor *= 10;
        }
        return Math.floorDiv(nanos, divisor);
    }

    /** Nanoseconds since the epoch (fits a long until 2262). */
    private static long toNanos(Object value, ZoneId zone) {
        Instant instant;
        if (value instanceof Instant i) {
            instant = i;
        } else if (value instanceof OffsetDateTime o) {
            instant = o.toInstant();
        } else if (value instanceof ZonedDateTime z) {
            instant = z.toInstant();
        } else if (value instanceof LocalDateTime l) {
            instant = l.atZone(zone).toInstant();
        } else if (value instanceof LocalDate d) {
            instant = d.atStartOfDay(zone).toInstant();
        } else if (value instanceof Date d) {
            instant = d.toInstant();
        } else if (value instanceof BigDecimal d) {
            return d.movePointRight(9).setScale(0, RoundingMode.FLOOR).longValueExact();
        } else if (value instanceof Double || value instanceof Float) {
            return BigDecimal.valueOf(((Number) value).doubleValue()).movePointRight(9)
                    .setScale(0, RoundingMode.FLOOR).longValue();
        } else if (value instanceof Number n) {
            return Math.multiplyExact(integral(n).longValueExact(), 1_000_000_000L);
        } else if (value instanceof String s) {
            instant = parseInstant(s.trim(), zone);
        } else {
            throw new ConversionException(kind(value) + " is not a date-time");
        }
        return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000_000L), instant.getNano());
    }

    private static Instant parseInstant(String s, ZoneId zone) {
        Instant fast = fastInstant(s, zone);
        if (fast != null) {
            return fast;
        }
        if (!s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Instant.ofEpochSecond(Long.parseLong(s));
        }
        String iso = s.length() > 10 && s.charAt(10) == ' ' ? s.substring(0, 10) + 'T' + s.substring(11) : s;
        try {
            TemporalAccessor t = DateTimeFormatter.ISO_DATE_TIME.parseBest(iso,
                    ZonedDateTime::from, LocalDateTime::from);
            if (t instanceof ZonedDateTime z) {
                return z.toInstant();
            }
            return ((LocalDateTime) t).atZone(zone).toInstant();
        } catch (DateTimeParseException e) {
            try {
                return LocalDate.parse(s).atStartOfDay(zone).toInstant();
            } catch (DateTimeParseException e2) {
                throw new ConversionException("'" + s + "' is not an ISO date-time");
            }
        }
    }

    /**
     * The common shape {@code yyyy-MM-dd[T ]HH:mm:ss[.fraction][Z|±HH:mm]} read without
     * {@link DateTimeFormatter} (which costs a microsecond or more a value), or {@code null} for anything
     * else (the formatter then decides, with the same result for this shape).
     */
    static Instant fastInstant(String s, ZoneId zone) {
        int n = s.length();
        if (n < 19 || s.charAt(4) != '-' || s.charAt(7) != '-' || (s.charAt(10) != 'T' && s.charAt(10) != ' ')
                || s.charAt(13) != ':' || s.charAt(16) != ':') {
            return null;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        if ((year | month | day | hour | minute | second) < 0 || month < 1 || month > 12 || day < 1
                || day > lengthOfMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
            return null;
        }
        int i = 19;
        int nanos = 0;
        if (i < n && s.charAt(i) == '.') {
            int start = ++i;
            while (i < n && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
                if (i - start < 9) {
                    nanos = nanos * 10 + (s.charAt(i) - '0');
                }
                i++;
            }
            int count = i - start;
            if (count == 0) {
                return null;
            }
            for (int k = Math.min(count, 9); k < 9; k++) {
                nanos *= 10;
            }
        }
        ZoneOffset offset;
        if (i == n) {
            offset = zone instanceof ZoneOffset z ? z : null;
        } else if (i == n - 1 && s.charAt(i) == 'Z') {
            offset = ZoneOffset.UTC;
        } else if (i == n - 6 && (s.charAt(i) == '+' || s.charAt(i) == '-') && s.charAt(i + 3) == ':') {
            int oh = digits(s, i + 1, 2);
            int om = digits(s, i + 4, 2);
            if ((oh | om) < 0 || oh > 18 || om > 59) {
                return null;
            }
            int total = oh * 3600 + om * 60;
            offset = ZoneOffset.ofTotalSeconds(s.charAt(i) == '-' ? -total : total);
        } else {
            return null;
        }
        if (offset != null) {
            // the arithmetic of LocalDateTime.toInstant without its objects (they showed in profiles)
            long seconds = epochDay(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
                    - offset.getTotalSeconds();
            return Instant.ofEpochSecond(seconds, nanos);
        }
        return LocalDateTime.of(year, month, day, hour, minute, second, nanos).atZone(zone).toInstant();
    }

    /** Days in a month of the proleptic Gregorian calendar, as {@code YearMonth.lengthOfMonth()}. */
    static int lengthOfMonth(int year, int month) {
        if (month == 2) {
            return (year & 3) == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28;
        }
        return month == 4 || month == 6 || month == 9 || month == 11 ? 30 : 31;
    }

    /**
     * Days from 1970-01-01 to a valid date of the proleptic Gregorian calendar, as {@code
     * LocalDate.toEpochDay()} (Howard Hinnant's {@code days_from_civil}: years start in March, so
     * that the leap day is the last day of its year).
     */
    static long epochDay(int year, int month, int day) {
        long y = month <= 2 ? year - 1 : year;
        long era = Math.floorDiv(y, 400);
        long yearOfEra = y - era * 400;
        long dayOfYear = (153L * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        long dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
        return era * 146_097 + dayOfEra - 719_468;
    }

    /** The non-negative number of {@code count} ASCII digits at {@code from}, or -1. */
    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int i = from; i < from + count; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static List<Object> toList(Object value, ColumnType element) {
        Iterator<?> it;
        if (value instanceof Iterable<?> iterable) {
            it = iterable.iterator();
        } else if (value instanceof Object[] array) {
            it = List.of(array).iterator();
        } else {
            throw new ConversionException(kind(value) + " is not a list");
        }
        List<Object> out = new ArrayList<>();
        int i = 0;
        while (it.hasNext()) {
            Object e = it.next();
            try {
                out.add(convert(element, e));
            } catch (ConversionException ex) {
                throw new ConversionException("element " + i + ": " + ex.getMessage());
            }
            i++;
        }
        return out;
    }

    /** A short description of a value for error messages: its type and at most 100 characters. */
    static String describe(Object value) {
        if (value == null) {
            return "null";
        }
        String text = value instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(value);
        if (text.length() > 100) {
            text = text.substring(0, 100) + "...";
        }
        return "'" + text + "' (" + value.getClass().getSimpleName() + ")";
    }

    private static String kind(Object value) {
        return "a " + value.getClass().getSimpleName();
    }

    /** A minimal JSON writer for Map and List values written into String columns. */
    static final class Json {
        private Json() {
        }

        static void write(StringBuilder out, Object value) {
            if (value == null) {
                out.append("null");
            } else if (value instanceof Map<?, ?> map) {
                out.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    string(out, String.valueOf(e.getKey()));
                    out.append(':');
                    write(out, e.getValue());
                }
                out.append('}');
            } else if (value instanceof Iterable<?> list) {
                out.append('[');
                boolean first = true;
                for (Object o : list) {
                    if (!first) {
                        out.append(',');
                    }
                    first = false;
                    write(out, o);
                }
                out.append(']');
            } else if (value instanceof BigDecimal d) {
                out.append(d.toPlainString());
            } else if (value instanceof Number || value instanceof Boolean) {
                out.append(value);
            } else {
                string(out, value instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : value.toString());
            }
        }

        private static void string(StringBuilder out, String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"': out.append("\\\""); break;
                    case '\\': out.append("\\\\"); break;
                    case '\n': out.append("\\n"); break;
                    case '\r': out.append("\\r"); break;
                    case '\t': out.append("\\t"); break;
                    default:
                        if (c < 0x20) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                }
            }
            out.append('"');
        }
    }
}
