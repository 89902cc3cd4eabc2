package dev.changepipe.sink.postgres;

import java.util.List;

/**
 * SQL text of the sink's statements. Every identifier is quoted with {@link #quote}; every value is a
 * bind parameter, cast to its column's type. Stateless.
 */
final class Sql {

    static final String TOMBSTONE_TABLE_COLUMN = "table_name";
    static final String TOMBSTONE_KEY_COLUMN = "row_key";
    static final String TOMBSTONE_VERSION_COLUMN = "version";

    private Sql() {
    }

    /** {@code "name"} with every {@code "} doubled; refuses NUL, which PostgreSQL cannot store. */
    static String quote(String identifier) {
        if (identifier.isEmpty() || identifier.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a valid identifier: '" + identifier.replace("\0", "\\0") + "'");
        }
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    /** {@code "schema"."name"}. */
    static String qualified(String schema, String name) {
        return quote(schema) + "." + quote(name);
    }

    /** {@code CAST($n AS "type_schema"."type")}. */
    static String cast(int parameter, TargetTable.Column column) {
        return "CAST($" + parameter + " AS " + column.typeName() + ")";
    }

    static String createTombstoneTable(String schema, String table) {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) + " ("
                + TOMBSTONE_TABLE_COLUMN + " text NOT NULL, "
                + TOMBSTONE_KEY_COLUMN + " text NOT NULL, "
                + TOMBSTONE_VERSION_COLUMN + " bigint NOT NULL, "
                + "PRIMARY KEY (" + TOMBSTONE_TABLE_COLUMN + ", " + TOMBSTONE_KEY_COLUMN + "))";
    }

    static String introspectColumns() {
        return "SELECT column_name, udt_schema, udt_name, character_maximum_length"
                + " FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
                + " ORDER BY ordinal_position";
    }

    static String addVersionColumn(TargetTable table) {
        return "ALTER TABLE " + table.qualifiedName() + " ADD COLUMN IF NOT EXISTS " + quote(table.versionColumn())
                + " bigint";
    }

    /**
     * The save of a row: inserted when absent, updated when the stored version is older (or unknown),
     * and neither when a delete of the key with the same or a newer version was recorded. Parameters:
     * the columns' values {@code $1..$n}, then the version, the tombstone's table name and row key.
     */
    static String upsert(TargetTable table, List<TargetTable.Column> columns, List<TargetTable.Column> keyColumns,
            String tombstones) {
        int n = columns.size();
        int version = n + 1;
        StringBuilder b = new StringBuilder("INSERT INTO ").append(table.qualifiedName()).append(" AS t (");
        for (TargetTable.Column c : columns) {
            b.append(quote(c.name())).append(", ");
        }
        b.append(quote(table.versionColumn())).append(") SELECT ");
        for (int i = 0; i < n; i++) {
            b.append(cast(i + 1, columns.get(i))).append(", ");
        }
        b.append("CAST($").append(version).append(" AS bigint)");
        b.append(" WHERE NOT EXISTS (SELECT 1 FROM ").append(tombstones).append(" WHERE ")
                .append(TOMBSTONE_TABLE_COLUMN).append(" = $").append(version + 1).append(" AND ")
                .append(TOMBSTONE_KEY_COLUMN).append(" = $").append(version + 2).append(" AND ")
                .append(TOMBSTONE_VERSION_COLUMN).append(" >= $").append(version).append(")");
        b.append(" ON CONFLICT (");
        for (int i = 0; i < keyColumns.size(); i++) {
            b.append(i == 0 ? "" : ", ").append(quote(keyColumns.get(i).name()));
        }
        b.append(") DO UPDATE SET ");
        for (TargetTable.Column c : columns) {
            if (!keyColumns.contains(c)) {
                b.append(quote(c.name())).append(" = EXCLUDED.").append(quote(c.name())).append(", ");
            }
        }
        String v = quote(table.versionColumn());
        b.append(v).append(" = EXCLUDED.").append(v);
        b.append(" WHERE t.").append(v).append(" IS NULL OR t.").append(v).append(" < EXCLUDED.").append(v);
        return b.toString();
    }

    /**
     * The delete of a row whose stored version is older than the delete's (or unknown), and the record
     * of the delete's version in the tombstone table (raised, never lowered). Parameters: the key
     * columns' values {@code $1..$k}, then the version, the tombstone's table name and row key.
     */
    static String delete(TargetTable table, List<TargetTable.Column> keyColumns, String tombstones) {
        int k = keyColumns.size();
        int version = k + 1;
        String v = quote(table.versionColumn());
        StringBuilder b = new StringBuilder("WITH deleted AS (DELETE FROM ").append(table.qualifiedName())
                .append(" WHERE ");
        for (int i = 0; i < k; i++) {
            b.append(quote(keyColumns.get(i).name())).append(" = ").append(cast(i + 1, keyColumns.get(i))).append(" AND ");
        }
        b.append("(").append(v).append(" IS NULL OR ").append(v).append(" < $").append(version).append(")) ");
        b.append("INSERT INTO ").append(tombstones).append(" AS b (").append(TOMBSTONE_TABLE_COLUMN).append(", ")
                .append(TOMBSTONE_KEY_COLUMN).append(", ").append(TOMBSTONE_VERSION_COLUMN).append(") VALUES ($")
                .append(version + 1).append(", $").append(version + 2).append(", CAST($").append(version)
                .append(" AS bigint)) ON CONFLICT (").append(TOMBSTONE_TABLE_COLUMN).append(", ")
                .append(TOMBSTONE_KEY_COLUMN).append(") DO UPDATE SET ").append(TOMBSTONE_VERSION_COLUMN)
                .append(" = EXCLUDED.").append(TOMBSTONE_VERSION_COLUMN).append(" WHERE b.")
                .append(TOMBSTONE_VERSION_COLUMN).append(" < EXCLUDED.").append(TOMBSTONE_VERSION_COLUMN);
        return b.toString();
    }
}
