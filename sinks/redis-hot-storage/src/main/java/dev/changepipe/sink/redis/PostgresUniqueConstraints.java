package dev.changepipe.sink.redis;

import dev.changepipe.core.PipelineException;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Reads the unique constraints of tables from PostgreSQL's catalog, for
 * {@link HotStorageOptions.Builder#uniqueConstraints(Map)}.
 *
 * <p>Every valid unique index of the table counts (a {@code UNIQUE} constraint is one), except the
 * primary key, partial indexes (they are unique only over some rows) and indexes on expressions;
 * {@code INCLUDE} columns are left out. Column names become field names as they are, or, with
 * {@code djangoForeignKeys}, a column that alone is a foreign key and ends in {@code _id} becomes the
 * field Django serializes ({@code question_id} becomes {@code question}).
 *
 * <p>Reads over one connection of {@code factory}, closed when done. A table that does not exist
 * fails the read with a {@link PipelineException} naming it.
 */
public final class PostgresUniqueConstraints {

    static final String QUERY = """
            SELECT c.oid IS NOT NULL AS found, ix.index_name, ix.column_name, ix.ord, ix.is_fk
            FROM (SELECT to_regclass($1) AS oid) c
            LEFT JOIN LATERAL (
              SELECT ci.relname::text AS index_name, a.attname::text AS column_name, k.ord,
                     EXISTS (SELECT 1 FROM pg_constraint f
                             WHERE f.conrelid = i.indrelid AND f.contype = 'f'
                               AND f.conkey = ARRAY[a.attnum]::int2[]) AS is_fk
              FROM pg_index i
              JOIN pg_class ci ON ci.oid = i.indexrelid
              CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisprimary AND i.indisvalid
                AND i.indpred IS NULL AND i.indexprs IS NULL AND k.ord <= i.indnkeyatts
            ) ix ON true
            ORDER BY ix.index_name, ix.ord
            """;

    private PostgresUniqueConstraints() {
    }

    /** Django's default table of a model: {@code polls.choice} is {@code polls_choice}. */
    public static String djangoTable(String model) {
        return model.replace('.', '_').toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The unique constraints of each model's table.
     *
     * @param factory where to read from
     * @param modelTables model ({@code app.model}) to table, as SQL names it (optionally
     *     schema-qualified; quote mixed-case names)
     * @param djangoForeignKeys whether to name foreign key columns as Django serializes the field
     * @return per model, its constraints in index name order (empty for a table that has none)
     */
    public static Mono<Map<String, List<UniqueConstraint>>> read(ConnectionFactory factory,
            Map<String, String> modelTables, boolean djangoForeignKeys) {
        Objects.requireNonNull(factory, "factory");
        Map<String, String> tables = new LinkedHashMap<>(modelTables);
        return Mono.usingWhen(Mono.from(factory.create()),
                connection -> Flux.fromIterable(tables.entrySet())
                        .concatMap(e -> readTable(connection, e.getKey(), e.getValue(), djangoForeignKeys)
                                .map(list -> Map.entry(e.getKey(), list)))
                        .collectMap(Map.Entry::getKey, Map.Entry::getValue, LinkedHashMap::new),
                Connection::close);
    }

    private static Mono<List<UniqueConstraint>> readTable(Connection connection, String model, String table,
            boolean djangoForeignKeys) {
        return Flux.from(connection.createStatement(QUERY).bind("$1", table).execute())
                .concatMap(result -> result.map((row, meta) -> new CatalogRow(
                        Boolean.TRUE.equals(row.get("found", Boolean.class)),
                        row.get("index_name", String.class),
                        row.get("column_name", String.class),
                        Boolean.TRUE.equals(row.get("is_fk", Boolean.class)))))
                .collectList()
                .flatMap(rows -> {
                    if (rows.isEmpty() || !rows.get(0).found()) {
                        return Mono.error(new PipelineException("unique constraints of " + model
                                + ": table " + table + " does not exist"));
                    }
                    Map<String, List<String>> byIndex = new LinkedHashMap<>();
                    for (CatalogRow r : rows) {
                        if (r.index() == null) {
                            continue;
                        }
                        String field = djangoForeignKeys && r.foreignKey() && r.column().endsWith("_id")
                                && r.column().length() > 3
                                ? r.column().substring(0, r.column().length() - 3) : r.column();
                        byIndex.computeIfAbsent(r.index(), i -> new ArrayList<>()).add(field);
                    }
                    List<UniqueConstraint> constraints = new ArrayList<>();
                    for (List<String> fields : byIndex.values()) {
                        UniqueConstraint c = new UniqueConstraint(fields);
                        if (!constraints.contains(c)) {
                            constraints.add(c);
                        }
                    }
                    return Mono.just(List.copyOf(constraints));
                });
    }

    private record CatalogRow(boolean found, String index, String column, boolean foreignKey) {
    }
}
