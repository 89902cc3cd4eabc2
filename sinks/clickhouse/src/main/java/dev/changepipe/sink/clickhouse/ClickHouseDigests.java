package dev.changepipe.sink.clickhouse;

import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Kind;
import dev.changepipe.spi.TableDigest.Shape;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import reactor.core.publisher.Mono;

/**
 * The ClickHouse side of {@link TableDigest}: the live rows of a target table ({@code FINAL}, then not
 * deleted in replacing mode, {@code sign = 1} in collapsing mode; in append mode each key's row of the
 * highest version, when not deleted) digested in the server, in the canonical form {@link TableDigest}
 * defines. One query per call; nothing is written.
 */
final class ClickHouseDigests {

    /**
     * The digest queries' own names: an alias is visible in the whole {@code SELECT} in ClickHouse, so a
     * plain {@code b} would stand for the bucket in the row's text of a table with a column {@code b}.
     */
    private static final String KEY = "changepipe_verify_key";
    private static final String BUCKET = "changepipe_verify_bucket";
    private static final String HASH = "changepipe_verify_hash";

    /** The unit separator between a row's values. */
    private static final String SEPARATOR = "'\\x1F'";

    private final ClickHouseSinkOptions options;
    private final Query query;
    private final Describe describe;

    /** Runs one read-only query on the sink's endpoints and answers its TabSeparated rows. */
    interface Query {
        Mono<List<String[]>> rows(String table, String what, String sql);
    }

    /** A table of the sink's database as the sink reads it before writing; empty when it does not exist. */
    interface Describe {
        Mono<TableFit.Table> table(String table);
    }

    /** The compared columns' types of each target described by {@link #target}, by source table. */
    private final Map<String, Map<String, ColumnType>> types = new java.util.concurrent.ConcurrentHashMap<>();

    ClickHouseDigests(ClickHouseSinkOptions options, Query query, Describe describe) {
        this.options = options;
        this.query = query;
        this.describe = describe;
    }

    Mono<TableDigest.Target> target(String sourceTable) {
        WriteMode mode = options.mode(sourceTable);
        return describe.table(options.targetTable(sourceTable)).map(table -> {
            Map<String, Column> columns = new LinkedHashMap<>();
            Map<String, String> notCompared = new LinkedHashMap<>();
            Map<String, ColumnType> typesOf = new LinkedHashMap<>();
            Set<String> own = Set.of(options.versionColumn(), options.deletedColumn(), options.signColumn(),
                    options.originColumn(), options.offsetColumn(), options.rowColumn());
            for (TableFit.Column c : table.columns()) {
                if (own.contains(c.name())) {
                    continue;
                }
                ColumnType type = c.computed() ? null : ColumnType.parse(c.type());
                Column compared = type == null ? null : column(c.name(), type);
                if (compared == null) {
                    notCompared.put(c.name(), c.type());
                } else {
                    columns.put(c.name(), compared);
                    typesOf.put(c.name(), type);
                }
            }
            types.put(sourceTable, typesOf);
            boolean hasLatest = table.columns().stream().map(TableFit.Column::name).filter(n -> n.equals(options.versionColumn())
                    || n.equals(options.deletedColumn())).count() == 2;
            String reason = mode == WriteMode.APPEND && !hasLatest
                    ? "an append-mode table without the columns " + options.versionColumn() + " and "
                            + options.deletedColumn() + " cannot say which of a key's rows is its latest"
                    : null;
            return new TableDigest.Target(table.database() + "." + table.name(), mode.name().toLowerCase(Locale.ROOT),
                    columns, notCompared, reason);
        });
    }

    /**
     * A value as the sink writes it into the column ({@link Values#convert}; a missing one as the type's
     * default), in the canonical form; the column's type is the one {@link #target} read.
     */
    String canonical(String sourceTable, Column column, Object value) {
        ColumnType type = types.getOrDefault(sourceTable, Map.of()).get(column.name());
        if (type == null) {
            return TableDigest.canonical(column, value);
        }
        Object stored;
        try {
            stored = value == null ? Values.zero(type) : Values.convert(type, value);
        } catch (Values.ConversionException e) {
            return "(" + Values.describe(value) + " cannot be written: " + e.getMessage() + ")";
        }
        if (stored == null) {
            return TableDigest.NULL_TEXT;
        }
        ColumnType t = type.kind() == ColumnType.Kind.NULLABLE ? type.element() : type;
        return switch (t.kind()) {
            case UINT -> t.bytes() == 8 && stored instanceof Long l ? Long.toUnsignedString(l) : stored.toString();
            case DECIMAL -> new java.math.BigDecimal(stored instanceof java.math.BigInteger b ? b
                    : java.math.BigInteger.valueOf((Long) stored), t.scale()).toPlainString();
            // floats (a Float32 as its float), strings (their bytes as UTF-8), the rest as their kind reads them
            default -> TableDigest.canonical(column, stored);
        };
    }

    /** The column as verify compares it, or null for a type it does not compare. */
    static Column column(String name, ColumnType type) {
        boolean nullable = type.kind() == ColumnType.Kind.NULLABLE;
        ColumnType t = nullable ? type.element() : type;
        return switch (t.kind()) {
            case INT, UINT, BOOL -> new Column(name, Kind.INTEGER, 0, null, nullable);
            case DECIMAL -> new Column(name, Kind.DECIMAL, t.scale(), null, nullable);
            case FLOAT32 -> new Column(name, Kind.FLOAT, 4, null, nullable);
            case FLOAT64 -> new Column(name, Kind.FLOAT, 8, null, nullable);
            case STRING -> new Column(name, Kind.STRING, 0, null, nullable);
            case UUID -> new Column(name, Kind.UUID, 0, null, nullable);
            case DATE -> new Column(name, Kind.DATE, 0, null, nullable);
            case DATETIME -> new Column(name, Kind.DATETIME, 0, t.zone().getId().equals("Z") ? "UTC" : t.zone().getId(), nullable);
            default -> null;
        };
    }

    /**
     * The digest's streams: {@code FINAL} merges a table into one stream, which then hashes every row on one
     * thread; the rows are split by bucket (a key's rows all in one) into this many queries of a {@code UNION
     * ALL}, which the server runs at once. Two took a 5 M-row digest from 5.6-6.4 s to 3.7-4.2 s on two
     * cores; four took longer (each stream reads the whole table).
     */
    private static final int STREAMS = 2;

    Mono<Map<Integer, Digest>> buckets(String sourceTable, Shape shape) {
        String one = "SELECT " + bucket(shape) + " AS " + BUCKET + ", " + hash(shape) + " AS " + HASH
                + from(sourceTable, shape, null);
        String union = java.util.stream.IntStream.range(0, STREAMS)
                .mapToObj(i -> one + " AND (" + bucket(shape) + ") % " + STREAMS + " = " + i)
                .collect(Collectors.joining(" UNION ALL "));
        String sql = "SELECT " + BUCKET + ", count(), sum(" + HASH + ") FROM (" + union + ") GROUP BY " + BUCKET
                + " FORMAT TabSeparated";
        return query.rows(options.targetTable(sourceTable), "digest " + options.targetTable(sourceTable), sql)
                .map(rows -> {
                    Map<Integer, Digest> out = new LinkedHashMap<>();
                    for (String[] r : rows) {
                        out.put(Integer.parseInt(r[0]), new Digest(Long.parseLong(r[1]), new BigInteger(r[2])));
                    }
                    return out;
                });
    }

    Mono<Map<String, Long>> hashes(String sourceTable, Shape shape, Set<Integer> buckets) {
        if (buckets.isEmpty()) {
            return Mono.just(Map.of());
        }
        String in = buckets.stream().map(String::valueOf).collect(Collectors.joining(", "));
        String sql = "SELECT " + KEY + ", " + HASH + " FROM (SELECT " + keyText(shape) + " AS " + KEY + ", " + bucket(shape)
                + " AS " + BUCKET + ", " + hash(shape) + " AS " + HASH + from(sourceTable, shape, null) + ") WHERE " + BUCKET + " IN ("
                + in + ") FORMAT TabSeparated";
        return query.rows(options.targetTable(sourceTable), "hash the rows of " + options.targetTable(sourceTable), sql)
                .map(rows -> byKey(rows, Long::parseLong));
    }

    Mono<Map<String, String>> rows(String sourceTable, Shape shape, Collection<String> keys) {
        if (keys.isEmpty()) {
            return Mono.just(Map.of());
        }
        // the keys are looked up in the table (an integer key through its primary index), not in what FINAL made
        boolean integers = shape.keys().size() == 1 && shape.key().kind() == Kind.INTEGER
                && keys.stream().allMatch(k -> k.matches("-?\\d{1,20}"));
        String in = keys.stream().map(k -> integers ? k : Sql.string(k)).collect(Collectors.joining(", "));
        String filter = (integers ? Sql.identifier(shape.key().name()) : keyText(shape)) + " IN (" + in + ")";
        String sql = "SELECT " + keyText(shape) + ", " + rowText(shape) + from(sourceTable, shape, filter) + " AND " + filter
                + " FORMAT TabSeparated";
        return query.rows(options.targetTable(sourceTable), "read rows of " + options.targetTable(sourceTable), sql)
                .map(rows -> byKey(rows, Sql::unescapeTsv));
    }

    /** Two-column rows as a map from the first (a key's text) to the second, read by {@code value}. */
    private static <V> Map<String, V> byKey(List<String[]> rows, java.util.function.Function<String, V> value) {
        Map<String, V> out = new LinkedHashMap<>();
        for (String[] r : rows) {
            out.put(Sql.unescapeTsv(r[0]), value.apply(r[1]));
        }
        return out;
    }

    /**
     * {@code FROM} the live rows of the target table, then {@code WHERE}: in an append-mode table each
     * key's latest row (the highest version; {@code filter}, when given, narrows the keys read first).
     */
    private String from(String sourceTable, Shape shape, String filter) {
        String table = Sql.table(options.database(), options.targetTable(sourceTable));
        String notDeleted = " WHERE " + Sql.identifier(options.deletedColumn()) + " = 0";
        return switch (options.mode(sourceTable)) {
            case COLLAPSING -> " FROM " + table + " FINAL WHERE " + Sql.identifier(options.signColumn()) + " = 1";
            case APPEND -> " FROM (SELECT * FROM " + table + (filter == null ? "" : " WHERE " + filter) + " ORDER BY "
                    + Sql.identifier(options.versionColumn()) + " DESC LIMIT 1 BY "
                    + shape.keys().stream().map(k -> Sql.identifier(k.name())).collect(Collectors.joining(", ")) + ")"
                    + notDeleted;
            default -> " FROM " + table + " FINAL" + notDeleted;
        };
    }

    private static String bucket(Shape shape) {
        if (shape.integerBuckets()) {
            return "abs(toInt64(" + Sql.identifier(shape.key().name()) + ")) % " + shape.buckets();
        }
        return "reinterpretAsUInt32(reverse(substring(MD5(" + keyText(shape) + "), 1, 4))) % " + shape.buckets();
    }

    /** A key's text: its columns' texts, joined. */
    private static String keyText(Shape shape) {
        return join(shape.keys());
    }

    private static String hash(Shape shape) {
        return "reinterpretAsInt64(reverse(substring(MD5(" + rowText(shape) + "), 1, 8)))";
    }

    private static String rowText(Shape shape) {
        return join(shape.columns());
    }

    private static String join(List<Column> columns) {
        List<String> parts = new ArrayList<>();
        for (Column c : columns) {
            if (!parts.isEmpty()) {
                parts.add(SEPARATOR);
            }
            parts.add(text(c));
        }
        return parts.size() == 1 ? parts.get(0) : "concat(" + String.join(", ", parts) + ")";
    }

    /** A column's value in the canonical form (TableDigest). */
    static String text(Column c) {
        String q = Sql.identifier(c.name());
        String e = switch (c.kind()) {
            case INTEGER, UUID -> "toString(" + q + ")";
            case DECIMAL -> "toString(" + q + ")";
            case FLOAT -> "toString(toInt64(round(toFloat64(" + q + ") * 1000000)))";
            case STRING -> "toString(" + q + ")";
            case BYTES -> "lower(hex(" + q + "))";
            case DATE -> "toString(toUInt16(" + q + "))";
            case DATETIME -> "toString(toUInt32(" + q + "))";
        };
        return c.nullable() ? "ifNull(" + e + ", '\\\\N')" : e;
    }
}
