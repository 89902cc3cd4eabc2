package dev.changepipe.spi;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Mono;

/**
 * A sink whose target tables can be compared with their source ({@code verify}): it digests what a
 * table holds now, its live rows only (for ClickHouse: {@code FINAL} and not deleted in replacing mode,
 * {@code FINAL} and {@code sign = 1} in collapsing mode, each key's latest row in append mode), in a form the source's database computes the
 * same way. A {@link CliCommand} that verifies a source's data asks each sink of the pipeline that
 * implements it, by {@code instanceof}.
 *
 * <p><b>The canonical form.</b> Each compared value is written as text, by its {@link Kind} (the
 * target column's type decides, since the sink converted every value into it): {@code INTEGER} as the
 * decimal integer (a boolean as 1 or 0); {@code DECIMAL} with exactly {@code scale} decimals;
 * {@code FLOAT} as the integer nearest to the value times 10^6, computed in double precision, half to
 * even (a {@code Float32} column's value taken as the 32-bit float the sink stored); {@code STRING} as it is; {@code BYTES} (a string of
 * bytes, such as a {@code bytea} in a {@code String} column) as the lower-case hex of its bytes; {@code UUID} in lower case with
 * hyphens; {@code DATE} as days since 1970-01-01; {@code DATETIME} as seconds since the epoch (a
 * date-time without a zone read in the column's zone, UTC unless the column names one); {@code NULL} as
 * {@code \N}. A row's text is its columns' texts in {@link Shape#columns} order, joined by the
 * character U+001F. Its hash is the first 8 bytes of the MD5 of that text (UTF-8) as a big-endian
 * signed 64-bit integer. A key's text is its columns' texts in {@link Shape#keys} order, joined by the
 * same character (one column: its text). The key's bucket is the first 4 bytes of the MD5 of the key's text, as a
 * big-endian unsigned integer, modulo {@link Shape#buckets} (an integer key's absolute value modulo
 * that, with {@link Shape#integerBuckets}). A bucket's digest is its row count and
 * the sum of its rows' hashes modulo 2^64: equal rows give equal digests in any order.
 *
 * <p>All methods read; none writes. They fail when the target cannot be read.
 */
public interface TableDigest {

    /** How a column's values are written in the canonical form. */
    enum Kind { INTEGER, DECIMAL, FLOAT, STRING, BYTES, UUID, DATE, DATETIME }

    /**
     * A compared column.
     *
     * @param name the column's name, the same in the source and the target
     * @param kind how its values are written
     * @param scale a {@code DECIMAL}'s decimals; for {@code FLOAT}, its width in bytes (4 or 8)
     * @param zone a {@code DATETIME}'s zone for values without one ({@code UTC} unless the column names one)
     * @param nullable whether the target column is {@code Nullable}
     */
    record Column(String name, Kind kind, int scale, String zone, boolean nullable) {
    }

    /**
     * What is compared: the key columns (also among {@code columns}), the columns, the number of buckets,
     * and how a key finds its bucket: {@code integerBuckets}, the key's absolute value modulo
     * {@code buckets} (for a key of one integer column both sides hold as integers: cheaper than a hash);
     * otherwise the MD5 of its text (see above).
     */
    record Shape(List<Column> keys, List<Column> columns, int buckets, boolean integerBuckets) {

        public Shape {
            keys = List.copyOf(keys);
            columns = List.copyOf(columns);
            if (keys.isEmpty() || integerBuckets && keys.size() != 1) {
                throw new IllegalArgumentException("a shape needs key columns, and integer buckets one integer key");
            }
        }

        /** A shape keyed by one column. */
        public Shape(Column key, List<Column> columns, int buckets, boolean integerBuckets) {
            this(List.of(key), columns, buckets, integerBuckets);
        }

        /** The one key column, when {@link #integerBuckets} (else the first of several). */
        public Column key() {
            return keys.get(0);
        }

        /** A key's text made of its columns' texts (in {@link #keys} order). */
        public static String keyText(List<String> texts) {
            return texts.size() == 1 ? texts.get(0) : String.join(KEY_SEPARATOR, texts);
        }

        /** Between the texts of a key's columns (and of a row's). */
        public static final String KEY_SEPARATOR = "\u001F";
    }

    /** A bucket: how many rows, and the sum of their hashes modulo 2^64 (as an unsigned value). */
    record Digest(long count, BigInteger sum) {

        public static final BigInteger MODULUS = BigInteger.ONE.shiftLeft(64);
        public static final Digest EMPTY = new Digest(0, BigInteger.ZERO);

        public Digest {
            sum = sum.mod(MODULUS);
        }

        /** Both together (the rows of two databases that hold parts of one table). */
        public Digest plus(Digest other) {
            return new Digest(count + other.count, sum.add(other.sum));
        }

        /** The digest of {@code count} rows whose hashes, added as longs, came to {@code sum} (its bits unsigned). */
        public static Digest of(long count, long sum) {
            return new Digest(count, new BigInteger(Long.toUnsignedString(sum)));
        }

        /**
         * A row's hash, for a side that hashes in Java what the databases hash themselves: the first 8 bytes
         * of the MD5 of its canonical text (UTF-8), big-endian.
         */
        public static long hash(String rowText) {
            byte[] utf8 = rowText.getBytes(StandardCharsets.UTF_8);
            return hash(utf8, 0, utf8.length);
        }

        /** {@link #hash(String)} of a canonical text given as its UTF-8 bytes (as a database sends them). */
        public static long hash(byte[] utf8, int offset, int length) {
            java.security.MessageDigest md5 = MD5.get();
            md5.update(utf8, offset, length);
            return java.nio.ByteBuffer.wrap(md5.digest()).getLong();
        }

        /**
         * A key's bucket from its canonical text: with {@link Shape#integerBuckets}, the key's absolute value
         * modulo the buckets; otherwise (or for a text that is no integer) the first 4 bytes of the MD5 of the
         * text, unsigned, modulo the buckets.
         */
        public static int bucket(Shape shape, String keyText) {
            if (shape.integerBuckets()) {
                try {
                    return (int) (Math.abs(Long.parseLong(keyText)) % shape.buckets());
                } catch (NumberFormatException notAnInteger) {
                    // hashed below: a key its target could not hold as an integer differs anyway
                }
            }
            byte[] d = MD5.get().digest(keyText.getBytes(StandardCharsets.UTF_8));
            return (int) (Integer.toUnsignedLong(java.nio.ByteBuffer.wrap(d).getInt()) % shape.buckets());
        }

        private static final ThreadLocal<java.security.MessageDigest> MD5 = ThreadLocal.withInitial(() -> {
            try {
                return java.security.MessageDigest.getInstance("MD5");
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("MD5 is missing from this JVM", e);
            }
        });
    }

    /**
     * The target table of {@code sourceTable} as verify sees it: its name, how it is written, its
     * columns as {@link Column}s (the sink's own columns left out), and the columns it cannot compare
     * with their types. Empty when the table does not exist.
     */
    Mono<Target> target(String sourceTable);

    /**
     * The target of a source table.
     *
     * @param name the table, as a user queries it ({@code db.table})
     * @param mode how the sink writes it ({@code replacing}...)
     * @param columns the columns verify can compare, by name
     * @param notCompared the others (their name: their type), and why none is when the whole table is not
     * @param reason why the table cannot be compared at all (an append-mode table without a version), or null
     * @param sourceKinds whether the target holds the source's values as they are, without column types of
     *     its own (the Redis hot storage): {@code columns} is then empty, and the source's columns are
     *     compared, each by the kind its own type gives
     */
    record Target(String name, String mode, Map<String, Column> columns, Map<String, String> notCompared, String reason,
            boolean sourceKinds) {

        /** A target with column types of its own. */
        public Target(String name, String mode, Map<String, Column> columns, Map<String, String> notCompared,
                String reason) {
            this(name, mode, columns, notCompared, reason, false);
        }
    }

    /**
     * The canonical text of {@code value}, which a source hands this sink for {@code column} of the target
     * of {@code sourceTable} (null when the change has none for it), as the target holds it once written:
     * what verify renders a source without a database of its own (an operation log) by, so that the sink's
     * own conversions (a text into a {@code DateTime}, a number into a {@code Decimal}) are the ones
     * compared. A value the sink could not write yields a text no target holds. Default:
     * {@link #canonical(Column, Object)}.
     */
    default String canonical(String sourceTable, Column column, Object value) {
        return canonical(column, value);
    }

    /**
     * The canonical text of a value as its column's kind reads it: numbers and booleans as JSON gives them
     * ({@code Long}, {@code BigDecimal}, {@code Double}, {@code Boolean}) or as text, times as
     * {@code java.time} values, ISO-8601 text (without an offset: in the column's zone) or the integer of the
     * canonical form (days, seconds), bytes as
     * {@code byte[]}. A value that does not read as its kind gives its own text, so it differs.
     */
    static String canonical(Column c, Object v) {
        if (v == null) {
            return NULL_TEXT;
        }
        String s = v instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : v.toString();
        try {
            return switch (c.kind()) {
                case INTEGER -> v instanceof Boolean b ? (b ? "1" : "0")
                        : v instanceof Long || v instanceof Integer ? s
                        : new java.math.BigDecimal(s.trim()).setScale(0, java.math.RoundingMode.HALF_UP).toPlainString();
                case DECIMAL -> (v instanceof java.math.BigDecimal d ? d : new java.math.BigDecimal(s.trim()))
                        .setScale(c.scale(), java.math.RoundingMode.HALF_UP).toPlainString();
                case FLOAT -> {
                    double d = v instanceof Number n ? n.doubleValue() : Double.parseDouble(s.trim());
                    yield Long.toString((long) Math.rint((c.scale() == 4 ? (double) (float) d : d) * 1_000_000d));
                }
                case STRING -> s;
                case BYTES -> java.util.HexFormat.of().formatHex(v instanceof byte[] b ? b
                        : s.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                case UUID -> s.trim().toLowerCase(java.util.Locale.ROOT);
                case DATE -> Long.toString(v instanceof java.time.LocalDate d ? d.toEpochDay()
                        : v instanceof Long || v instanceof Integer ? ((Number) v).longValue()
                        : java.time.LocalDate.parse(s.trim().substring(0, Math.min(10, s.trim().length()))).toEpochDay());
                case DATETIME -> Long.toString(epochSeconds(v, s, c.zone() == null ? "UTC" : c.zone()));
            };
        } catch (RuntimeException e) {
            return s;
        }
    }

    /** The canonical text of SQL's NULL. */
    String NULL_TEXT = "\\N";

    private static long epochSeconds(Object v, String text, String zone) {
        if (v instanceof java.time.Instant i) {
            return i.getEpochSecond();
        }
        if (v instanceof java.time.OffsetDateTime o) {
            return o.toEpochSecond();
        }
        if (v instanceof java.time.ZonedDateTime z) {
            return z.toEpochSecond();
        }
        if (v instanceof java.time.LocalDateTime l) {
            return l.atZone(java.time.ZoneId.of(zone)).toEpochSecond();
        }
        if (v instanceof Number n) {
            return n.longValue();
        }
        String s = text.trim().replace(' ', 'T');
        try {
            return java.time.OffsetDateTime.parse(s).toEpochSecond();
        } catch (java.time.format.DateTimeParseException withoutOffset) {
            return java.time.LocalDateTime.parse(s).atZone(java.time.ZoneId.of(zone)).toEpochSecond();
        }
    }

    /** The digest of every bucket that holds a live row. */
    Mono<Map<Integer, Digest>> buckets(String sourceTable, Shape shape);

    /** The hash of every live row whose key falls in one of {@code buckets}, by key text. */
    Mono<Map<String, Long>> hashes(String sourceTable, Shape shape, Set<Integer> buckets);

    /** The canonical text of the live rows of these keys (key texts), by key text: absent keys are left out. */
    Mono<Map<String, String>> rows(String sourceTable, Shape shape, Collection<String> keys);
}
