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

    /**
     * {@code CAST(text AS "type_schema"."type")}; a {@code json} column's value goes through
     * {@code jsonb}, so it is stored in jsonb's normalized text as when the driver bound it as jsonb.
     */
    static String cast(String text, TargetTable.Column column) {
        if (column.type() == ColumnType.JSON && column.typeName().equals(qualified("pg_catalog", "json"))) {
            return "CAST(CAST(" + text + " AS jsonb) AS " + column.typeName() + ")";
        }
        return "CAST(" + text + " AS " + column.typeName() + ")";
    }

    static String createTombstoneTable(String schema, String table) {
        return "CREATE TABLE IF NOT EXISTS " + qualified(schema, table) + " ("
                + TOMBSTONE_TABLE_COLUMN + " text NOT NULL, "
                + TOMBSTONE_KEY_COLUMN + " text NOT NULL, "
                + TOMBSTONE_VERSION_COLUMN + " bigint NOT NULL, "
                + "PRIMARY KEY (" + TOMBSTONE_TABLE_COLUMN + ", " + TOMBSTONE_KEY_COLUMN + "))";
    }

    /** One row, one boolean: whether the schema (parameter) exists. */
    static String schemaExists() {
        return "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)";
    }

    static String introspectColumns() {
        return "SELECT column_name, udt_schema, udt_name, character_maximum_length"
                + " FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
                + " ORDER BY ordinal_position";
    }

    /**
     * One row, one boolean: whether the deletes of a segment of the table (parameters: schema, table)
     * may run before its saves of other keys. They may unless the table has a user trigger (which
     * could observe the order) or a foreign key referencing the table itself that is checked before
     * the commit or acts on delete (cascade, set null, set default); only such a key can make the
     * outcome depend on the order of changes of distinct rows of one table. Foreign keys from other
     * tables are not concerned: the order across tables is never changed.
     */
    static String introspectDeleteOrder() {
        return "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = r.oid AND NOT g.tgisinternal)"
                + " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.contype = 'f'"
                + " AND c.conrelid = r.oid AND c.confrelid = r.oid AND NOT (c.condeferred AND c.confdeltype = 'a'))"
                + " FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
                + " WHERE n.nspname = $1 AND r.relname = $2";
    }

    static String addVersionColumn(TargetTable table) {
        return "ALTER TABLE " + table.qualifiedName() + " ADD COLUMN IF NOT EXISTS " + quote(table.versionColumn())
                + " bigint";
    }

    /**
     * The saves of one shape, any number of rows with distinct keys, as one statement: each row
     * inserted when absent, updated when the stored version is older (or unknown), and neither when a
     * delete of its key with the same or a newer version was recorded (checked set-based, in the same
     * statement). Rows are inserted in the order of the arrays ({@code ORDER BY} their ordinality), so
     * unique constraints see them as if applied one by one. Parameters: per column a {@code text[]} of
     * the rows' values ({@link ColumnType#sqlText}), cast to the column's type; then the rows' versions
     * ({@code bigint[]}), their tombstone row keys ({@code text[]}) and the tombstone table name
     * ({@code text}). The text is the same for any number of rows: one prepared statement per shape.
     */
    static String upsert(Change.Shape shape, String tombstones) {
        TargetTable table = shape.table();
        List<TargetTable.Column> columns = shape.columns();
        int n = columns.size();
        StringBuilder b = new StringBuilder("INSERT INTO ").append(table.qualifiedName()).append(" AS t (");
        for (TargetTable.Column c : columns) {
            b.append(quote(c.name())).append(", ");
        }
        b.append(quote(table.versionColumn())).append(") SELECT ");
        for (int i = 0; i < n; i++) {
            b.append(cast("u.p" + (i + 1), columns.get(i))).append(", ");
        }
        b.append("u.version FROM ");
        unnest(b, n, true);
        b.append(" WHERE NOT EXISTS (SELECT 1 FROM ").append(tombstones).append(" AS b WHERE b.")
                .append(TOMBSTONE_TABLE_COLUMN).append(" = CAST($").append(n + 3).append(" AS text) AND b.")
                .append(TOMBSTONE_KEY_COLUMN).append(" = u.row_key AND b.")
                .append(TOMBSTONE_VERSION_COLUMN).append(" >= u.version)");
        b.append(" ORDER BY u.ord ON CONFLICT (");
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
     * The deletes of one shape, any number of rows with distinct keys, as one statement: each row
     * removed unless its stored version is newer than the delete's, and every delete's version recorded
     * in the tombstone table (raised, never lowered). Parameters as for {@link #upsert}, with the key
     * columns as the columns.
     */
    static String delete(Change.Shape shape, String tombstones) {
        TargetTable table = shape.table();
        List<TargetTable.Column> keyColumns = shape.keyColumns();
        int k = keyColumns.size();
        String v = quote(table.versionColumn());
        StringBuilder b = new StringBuilder("WITH v AS (SELECT ");
        for (int i = 0; i < k; i++) {
            b.append(cast("u.p" + (i + 1), keyColumns.get(i))).append(" AS p").append(i + 1).append(", ");
        }
        b.append("u.version, u.row_key FROM ");
        unnest(b, k, false);
        b.append("), deleted AS (DELETE FROM ").append(table.qualifiedName()).append(" AS t USING v WHERE ");
        for (int i = 0; i < k; i++) {
            b.append("t.").append(quote(keyColumns.get(i).name())).append(" = v.p").append(i + 1).append(" AND ");
        }
        b.append("(t.").append(v).append(" IS NULL OR t.").append(v).append(" < v.version)) ");
        b.append("INSERT INTO ").append(tombstones).append(" AS b (").append(TOMBSTONE_TABLE_COLUMN).append(", ")
                .append(TOMBSTONE_KEY_COLUMN).append(", ").append(TOMBSTONE_VERSION_COLUMN)
                .append(") SELECT CAST($").append(k + 3).append(" AS text), v.row_key, v.version FROM v ON CONFLICT (")
                .append(TOMBSTONE_TABLE_COLUMN).append(", ").append(TOMBSTONE_KEY_COLUMN).append(") DO UPDATE SET ")
                .append(TOMBSTONE_VERSION_COLUMN).append(" = EXCLUDED.").append(TOMBSTONE_VERSION_COLUMN)
                .append(" WHERE b.").append(TOMBSTONE_VERSION_COLUMN).append(" < EXCLUDED.")
                .append(TOMBSTONE_VERSION_COLUMN);
        return b.toString();
    }

    /**
     * {@code unnest(CAST($1 AS text[]), ..., CAST($n+1 AS bigint[]), CAST($n+2 AS text[])) [WITH
     * ORDINALITY] AS u(p1, ..., pn, version, row_key[, ord])}.
     */
    private static void unnest(StringBuilder b, int columns, boolean ordinality) {
        b.append("unnest(");
        for (int i = 1; i <= columns; i++) {
            b.append("CAST($").append(i).append(" AS text[]), ");
        }
        b.append("CAST($").append(columns + 1).append(" AS bigint[]), CAST($").append(columns + 2)
                .append(" AS text[]))").append(ordinality ? " WITH ORDINALITY" : "").append(" AS u(");
        for (int i = 1; i <= columns; i++) {
            b.append('p').append(i).append(", ");
        }
        b.append("version, row_key").append(ordinality ? ", ord)" : ")");
    }
}
