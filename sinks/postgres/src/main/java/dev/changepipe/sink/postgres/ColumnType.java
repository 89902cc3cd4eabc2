package dev.changepipe.sink.postgres;

import io.r2dbc.postgresql.codec.Json;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * The kinds of target column the sink converts values for, found from {@code information_schema}'s
 * {@code udt_name}. Each converts a value of a {@code ChangeItem} (a {@code Long}, {@code BigDecimal},
 * {@code String}, {@code Boolean}, {@code List} or {@code Map}) to the Java type the driver binds for
 * that column, or throws {@link IllegalArgumentException} saying why it cannot. Types the sink does
 * not know ({@link #OTHER}: enums, intervals, network addresses...) are bound as text and cast by the
 * server.
 */
enum ColumnType {
    INT2(Short.class),
    INT4(Integer.class),
    INT8(Long.class),
    NUMERIC(BigDecimal.class),
    FLOAT4(Float.class),
    FLOAT8(Double.class),
    BOOL(Boolean.class),
    TEXT(String.class),
    UUID_(UUID.class),
    TIMESTAMPTZ(OffsetDateTime.class),
    TIMESTAMP(LocalDateTime.class),
    DATE(LocalDate.class),
    TIME(LocalTime.class),
    JSON(Json.class),
    BYTEA(ByteBuffer.class),
    ARRAY(String[].class),
    OTHER(String.class);

    private final Class<?> bindClass;

    ColumnType(Class<?> bindClass) {
        this.bindClass = bindClass;
    }

    /** The class to bind a {@code null} of this column with. */
    Class<?> bindClass() {
        return bindClass;
    }

    /** The type of a column from its {@code udt_name}; arrays' names start with {@code _}. */
    static ColumnType of(String udtName) {
        if (udtName.startsWith("_")) {
            return ARRAY;
        }
        return switch (udtName) {
            case "int2" -> INT2;
            case "int4" -> INT4;
            case "int8" -> INT8;
            case "numeric" -> NUMERIC;
            case "float4" -> FLOAT4;
            case "float8" -> FLOAT8;
            case "bool" -> BOOL;
            case "text", "varchar", "bpchar", "name", "citext" -> TEXT;
            case "uuid" -> UUID_;
            case "timestamptz" -> TIMESTAMPTZ;
            case "timestamp" -> TIMESTAMP;
            case "date" -> DATE;
            case "time" -> TIME;
            case "json", "jsonb" -> JSON;
            case "bytea" -> BYTEA;
            default -> OTHER;
        };
    }

    /**
     * Converts a non-null value for a column of this type; {@code elementType} is the type of an
     * array's elements (ignored otherwise).
     */
    Object convert(Object value, ColumnType elementType) {
        return switch (this) {
            case INT2 -> (short) integer(value, Short.MIN_VALUE, Short.MAX_VALUE);
            case INT4 -> (int) integer(value, Integer.MIN_VALUE, Integer.MAX_VALUE);
            case INT8 -> integer(value, Long.MIN_VALUE, Long.MAX_VALUE);
            case NUMERIC -> decimal(value);
            case FLOAT4 -> (float) floating(value);
            case FLOAT8 -> floating(value);
            case BOOL -> bool(value);
            case TEXT -> text(value);
            case UUID_ -> uuid(value);
            case TIMESTAMPTZ -> timestampTz(value);
            case TIMESTAMP -> timestampTz(value).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
            case DATE -> value instanceof LocalDate d ? d : LocalDate.parse(string(value, "a date"));
            case TIME -> value instanceof LocalTime t ? t : LocalTime.parse(string(value, "a time"));
            case JSON -> Json.of(value instanceof dev.changepipe.core.JsonValue j ? j.text() : JsonText.write(value));
            case BYTEA -> ByteBuffer.wrap(value instanceof byte[] b ? b : base64(value));
            case ARRAY -> array(value, elementType);
            case OTHER -> value instanceof Map || value instanceof List ? JsonText.write(value) : text(value);
        };
    }

    /**
     * The text form of a value {@link #convert converted} for a column, as PostgreSQL reads it back in a
     * cast to the column's type: the sink sends every column as a {@code text[]} of these (one array
     * per column, one element per row). An array column's value is an array literal
     * ({@code {"a","b\\"c",NULL}}), every element quoted.
     */
    static String sqlText(Object converted) {
        if (converted instanceof String[] elements) {
            StringBuilder b = new StringBuilder("{");
            for (int i = 0; i < elements.length; i++) {
                if (i > 0) {
                    b.append(',');
                }
                String e = elements[i];
                if (e == null) {
                    b.append("NULL");
                    continue;
                }
                b.append('"');
                for (int j = 0; j < e.length(); j++) {
                    char c = e.charAt(j);
                    if (c == '"' || c == '\\') {
                        b.append('\\');
                    }
                    b.append(c);
                }
                b.append('"');
            }
            return b.append('}').toString();
        }
        return elementText(converted);
    }

    /** The text form of a converted array element, as PostgreSQL reads it back in a cast. */
    private static String elementText(Object converted) {
        if (converted instanceof Json json) {
            return json.asString();
        }
        if (converted instanceof ByteBuffer buffer) {
            byte[] bytes = new byte[buffer.remaining()];
            buffer.duplicate().get(bytes);
            StringBuilder b = new StringBuilder("\\x");
            for (byte x : bytes) {
                b.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
            }
            return b.toString();
        }
        if (converted instanceof BigDecimal d) {
            return d.toPlainString();
        }
        return converted.toString();
    }

    private static String[] array(Object value, ColumnType elementType) {
        if (!(value instanceof List<?> list)) {
            throw new IllegalArgumentException("expected a list for an array column");
        }
        String[] out = new String[list.size()];
        for (int i = 0; i < out.length; i++) {
            Object element = list.get(i);
            if (element instanceof List) {
                throw new IllegalArgumentException("nested lists (multi-dimensional arrays) are not supported");
            }
            out[i] = element == null ? null : elementText(elementType.convert(element, OTHER));
        }
        return out;
    }

    private static long integer(Object value, long min, long max) {
        long result;
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            result = ((Number) value).longValue();
        } else if (value instanceof BigDecimal || value instanceof BigInteger || value instanceof String) {
            BigDecimal d = value instanceof String s ? parseDecimal(s) : new BigDecimal(value.toString());
            try {
                result = d.longValueExact();
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("not an integer in range", e);
            }
        } else {
            throw new IllegalArgumentException("expected an integer, got " + kind(value));
        }
        if (result < min || result > max) {
            throw new IllegalArgumentException("out of range [" + min + ", " + max + "]");
        }
        return result;
    }

    private static BigDecimal decimal(Object value) {
        if (value instanceof BigDecimal d) {
            return d;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return BigDecimal.valueOf(((Number) value).longValue());
        }
        if (value instanceof Double || value instanceof Float || value instanceof BigInteger) {
            return new BigDecimal(value.toString());
        }
        if (value instanceof String s) {
            return parseDecimal(s);
        }
        throw new IllegalArgumentException("expected a number, got " + kind(value));
    }

    private static BigDecimal parseDecimal(String s) {
        try {
            return new BigDecimal(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a number", e);
        }
    }

    private static double floating(Object value) {
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        if (value instanceof String s) {
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a number", e);
            }
        }
        throw new IllegalArgumentException("expected a number, got " + kind(value));
    }

    private static Boolean bool(Object value) {
        if (value instanceof Boolean b) {
            return b;
        }
        if (value instanceof String s) {
            switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "true", "t" -> {
                    return Boolean.TRUE;
                }
                case "false", "f" -> {
                    return Boolean.FALSE;
                }
                default -> throw new IllegalArgumentException("not a boolean");
            }
        }
        if (value instanceof Long l && (l == 0 || l == 1)) {
            return l == 1;
        }
        throw new IllegalArgumentException("expected a boolean, got " + kind(value));
    }

    private static String text(Object value) {
        String s;
        if (value instanceof String str) {
            s = str;
        } else if (value instanceof BigDecimal d) {
            s = d.toPlainString();
        } else if (value instanceof Number || value instanceof Boolean || value instanceof java.time.temporal.Temporal
                || value instanceof UUID || value instanceof dev.changepipe.core.JsonValue) {
            s = value.toString();
        } else {
            throw new IllegalArgumentException("expected a string, got " + kind(value));
        }
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("PostgreSQL text cannot hold a NUL character");
        }
        return s;
    }

    private static UUID uuid(Object value) {
        String s = string(value, "a UUID");
        String hex = s.length() == 36 && s.charAt(8) == '-' && s.charAt(13) == '-' && s.charAt(18) == '-'
                && s.charAt(23) == '-' ? s.replace("-", "") : s;
        if (hex.length() != 32) {
            throw new IllegalArgumentException("not a UUID");
        }
        for (int i = 0; i < 32; i++) {
            if (Character.digit(hex.charAt(i), 16) < 0) {
                throw new IllegalArgumentException("not a UUID");
            }
        }
        return new UUID(Long.parseUnsignedLong(hex.substring(0, 16), 16), Long.parseUnsignedLong(hex.substring(16), 16));
    }

    /**
     * ISO-8601 with an offset or {@code Z}; without one the time is taken as UTC. A source that reads
     * typed values (postgres-cdc) hands {@code java.time} values, taken the same way.
     */
    private static OffsetDateTime timestampTz(Object value) {
        if (value instanceof OffsetDateTime t) {
            return t;
        } else if (value instanceof LocalDateTime t) {
            return t.atOffset(ZoneOffset.UTC);
        } else if (value instanceof java.time.Instant t) {
            return t.atOffset(ZoneOffset.UTC);
        } else if (value instanceof java.time.ZonedDateTime t) {
            return t.toOffsetDateTime();
        } else if (value instanceof LocalDate d) {
            return d.atStartOfDay().atOffset(ZoneOffset.UTC);
        }
        String s = string(value, "an ISO-8601 timestamp").trim().replace(' ', 'T');
        try {
            return OffsetDateTime.parse(s);
        } catch (DateTimeParseException withOffset) {
            try {
                return LocalDateTime.parse(s).atOffset(ZoneOffset.UTC);
            } catch (DateTimeParseException e) {
                IllegalArgumentException error = new IllegalArgumentException("not an ISO-8601 timestamp", e);
                error.addSuppressed(withOffset);
                throw error;
            }
        }
    }

    private static byte[] base64(Object value) {
        try {
            return Base64.getDecoder().decode(string(value, "base64 text"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not base64", e);
        }
    }

    private static String string(Object value, String what) {
        if (value instanceof String s) {
            return s;
        }
        throw new IllegalArgumentException("expected " + what + " as a string, got " + kind(value));
    }

    private static String kind(Object value) {
        if (value instanceof Map) {
            return "an object";
        }
        if (value instanceof List) {
            return "a list";
        }
        return "a " + value.getClass().getSimpleName();
    }
}
