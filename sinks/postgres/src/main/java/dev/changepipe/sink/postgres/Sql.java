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
     * The saves of {@code rows} rows of one shape (distinct keys): each inserted when absent, updated
     * when the stored version is older (or unknown), and neither when a delete of its key with the same
     * or a newer version was recorded. Rows are applied in the order of their parameters. Parameters,
     * per row: the columns' values, then the version, the tombstone's table name and row key.
     */
    static String upsert(Change.Shape shape, int rows, String tombstones) {
        TargetTable table = shape.table();
        List<TargetTable.Column> columns = shape.columns();
        int n = columns.size();
        StringBuilder b = new StringBuilder("INSERT INTO ").append(table.qualifiedName()).append(" AS t (");
        for (TargetTable.Column c : columns) {
            b.append(quote(c.name())).append(", ");
        }
        b.append(quote(table.versionColumn())).append(") SELECT ");
        for (int i = 1; i <= n; i++) {
            b.append("v.p").append(i).append(", ");
        }
        b.append("v.version FROM ");
        values(b, columns, rows);
        b.append(" WHERE NOT EXISTS (SELECT 1 FROM ").append(tombstones).append(" AS b WHERE b.")
                .append(TOMBSTONE_TABLE_COLUMN).append(" = v.table_name AND b.")
                .append(TOMBSTONE_KEY_COLUMN).append(" = v.row_key AND b.")
                .append(TOMBSTONE_VERSION_COLUMN).append(" >= v.version)");
        b.append(" ON CONFLICT (");
        List<TargetTable.Column> keyColumns = shape.keyColumns();
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
     * The deletes of {@code rows} rows of one shape (distinct keys): each row removed unless its stored
     * version is newer than the delete's, and the delete's version recorded in the tombstone table
     * (raised, never lowered). Parameters, per row: the key columns' values, then the version, the
     * tombstone's table name and row key.
     */
    static String delete(Change.Shape shape, int rows, String tombstones) {
        TargetTable table = shape.table();
        List<TargetTable.Column> keyColumns = shape.keyColumns();
        String v = quote(table.versionColumn());
        StringBuilder b = new StringBuilder("WITH ");
        values(b, keyColumns, rows);
        b.append(", deleted AS (DELETE FROM ").append(table.qualifiedName()).append(" AS t USING v WHERE ");
        for (int i = 0; i < keyColumns.size(); i++) {
            b.append("t.").append(quote(keyColumns.get(i).name())).append(" = v.p").append(i + 1).append(" AND ");
        }
        b.append("(t.").append(v).append(" IS NULL OR t.").append(v).append(" < v.version)) ");
        b.append("INSERT INTO ").append(tombstones).append(" AS b (").append(TOMBSTONE_TABLE_COLUMN).append(", ")
                .append(TOMBSTONE_KEY_COLUMN).append(", ").append(TOMBSTONE_VERSION_COLUMN)
                .append(") SELECT v.table_name, v.row_key, v.version FROM v ON CONFLICT (").append(TOMBSTONE_TABLE_COLUMN)
                .append(", ").append(TOMBSTONE_KEY_COLUMN).append(") DO UPDATE SET ").append(TOMBSTONE_VERSION_COLUMN)
                .append(" = EXCLUDED.").append(TOMBSTONE_VERSION_COLUMN).append(" WHERE b.")
                .append(TOMBSTONE_VERSION_COLUMN).append(" < EXCLUDED.").append(TOMBSTONE_VERSION_COLUMN);
        return b.toString();
    }

    /**
     * {@code (VALUES (CAST($1 AS type1), ...), ...) AS v(p1, ..., version, table_name, row_key)} for an
     * upsert, or {@code v(p1, ...) AS (VALUES ...)} for a delete's {@code WITH}; {@code b} tells which
     * by what it ends with.
     */
    private static void values(StringBuilder b, List<TargetTable.Column> columns, int rows) {
        boolean with = b.toString().endsWith("WITH ");
        StringBuilder names = new StringBuilder("v(");
        for (int i = 1; i <= columns.size(); i++) {
            names.append('p').append(i).append(", ");
        }
        names.append("version, table_name, row_key)");
        b.append(with ? names + " AS (VALUES " : "(VALUES ");
        int perRow = columns.size() + 3;
        for (int r = 0; r < rows; r++) {
            int base = r * perRow;
            b.append(r == 0 ? "(" : ", (");
            for (int i = 0; i < columns.size(); i++) {
                b.append(cast(base + i + 1, columns.get(i))).append(", ");
            }
            b.append("CAST($").append(base + columns.size() + 1).append(" AS bigint), CAST($")
                    .append(base + columns.size() + 2).append(" AS text), CAST($")
                    .append(base + columns.size() + 3).append(" AS text))");
        }
        b.append(")");
        if (!with) {
            b.append(" AS ").append(names);
        }
    }
}
