package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import java.util.Collection;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@link TableDigest} of a PostgreSQL target (the PostgreSQL sink's): every row of the target table is
 * live (a delete removes the row), digested in the server as the source's side is, each column compared
 * by the kind its own type gives ({@link #column}). Nothing is written.
 */
public final class PostgresTableDigest implements TableDigest {

    private static final String COLUMNS_SQL = "SELECT a.attname, t.typname, a.atttypmod, NOT a.attnotnull FROM pg_attribute a"
            + " JOIN pg_type t ON t.oid = a.atttypid"
            + " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

    private final ConnectionFactory factory;
    private final Function<String, String> targetTable;
    private final Set<String> own;

    /**
     * @param factory the target database's connections
     * @param targetTable the target table of a source table ({@code schema.table}, each part as it is named)
     * @param own the sink's own columns, never compared (the version column)
     */
    public PostgresTableDigest(ConnectionFactory factory, Function<String, String> targetTable, Set<String> own) {
        this.factory = factory;
        this.targetTable = targetTable;
        this.own = own;
    }

    @Override
    public Mono<Target> target(String sourceTable) {
        String table = targetTable.apply(sourceTable);
        return describe(factory, table)
                .filter(rows -> !rows.isEmpty())
                .map(rows -> {
                    Map<String, Column> columns = new LinkedHashMap<>();
                    Map<String, String> notCompared = new LinkedHashMap<>();
                    for (Object[] r : rows) {
                        String name = (String) r[0];
                        if (own.contains(name)) {
                            continue;
                        }
                        Column compared = column(name, (String) r[1], (Integer) r[2], Boolean.TRUE.equals(r[3]));
                        if (compared == null) {
                            notCompared.put(name, (String) r[1]);
                        } else {
                            columns.put(name, compared);
                        }
                    }
                    return new Target(table, "postgres", columns, notCompared, null);
                });
    }

    /** A table's columns: name, {@code typname}, {@code atttypmod}, whether nullable; empty when it does not exist. */
    static Mono<List<Object[]>> describe(ConnectionFactory factory, String table) {
        return Mono.usingWhen(factory.create(),
                c -> Flux.from(c.createStatement(COLUMNS_SQL).bind(0, PostgresDigests.qualified(table)).execute())
                        .flatMap(r -> r.map((row, meta) -> new Object[] {row.get(0, String.class),
                                row.get(1, String.class), row.get(2, Integer.class), row.get(3, Boolean.class)}))
                        .collectList(),
                Connection::close);
    }

    /**
     * A source column as a target that holds the source's values as they are compares it
     * ({@link Target#sourceKinds}, the hot storage): as {@link #column}, but a {@code json} document,
     * which such a target keeps as an object whose text is its own, is not compared.
     */
    static Column valueColumn(String name, String type, int typmod, boolean nullable) {
        return type.equals("json") || type.equals("jsonb") ? null : column(name, type, typmod, nullable);
    }

    /**
     * A PostgreSQL column as verify compares it, by its type ({@code typname}, {@code atttypmod}); null
     * for a type it does not compare (an array, a {@code numeric} without a scale, a geometric type...).
     */
    static Column column(String name, String type, int typmod, boolean nullable) {
        return switch (type) {
            case "int2", "int4", "int8", "bool" -> new Column(name, Kind.INTEGER, 0, null, nullable);
            case "numeric" -> typmod < 4 ? null : new Column(name, Kind.DECIMAL, (typmod - 4) & 0xFFFF, null, nullable);
            case "float4" -> new Column(name, Kind.FLOAT, 4, null, nullable);
            case "float8" -> new Column(name, Kind.FLOAT, 8, null, nullable);
            case "text", "varchar", "bpchar", "json", "jsonb", "citext" -> new Column(name, Kind.STRING, 0, null, nullable);
            case "uuid" -> new Column(name, Kind.UUID, 0, null, nullable);
            case "bytea" -> new Column(name, Kind.BYTES, 0, null, nullable);
            case "date" -> new Column(name, Kind.DATE, 0, null, nullable);
            case "timestamp", "timestamptz" -> new Column(name, Kind.DATETIME, 0, "UTC", nullable);
            default -> null;
        };
    }

    @Override
    public Mono<Map<Integer, Digest>> buckets(String sourceTable, Shape shape) {
        return withTypes(sourceTable, (d, types) -> d.buckets(shape, types));
    }

    @Override
    public Mono<Map<String, Long>> hashes(String sourceTable, Shape shape, Set<Integer> buckets) {
        return withTypes(sourceTable, (d, types) -> d.hashes(shape, types, buckets));
    }

    @Override
    public Mono<Map<String, String>> rows(String sourceTable, Shape shape, Collection<String> keys) {
        return withTypes(sourceTable, (d, types) -> d.rows(shape, types, keys));
    }

    /** The target table's digests, with its columns' types (which its canonical expressions are made from). */
    private <T> Mono<T> withTypes(String sourceTable,
            java.util.function.BiFunction<PostgresDigests, Map<String, String>, Mono<T>> work) {
        PostgresDigests d = new PostgresDigests(factory, targetTable.apply(sourceTable));
        return d.columns().flatMap(types -> work.apply(d, types));
    }
}
