package dev.changepipe.sink.postgres;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A target table as introspected from {@code information_schema}: its columns and their types, and
 * how the fields of its source table map to them. Immutable apart from the set of fields already
 * reported as unmapped; safe to share between threads.
 */
final class TargetTable {

    /**
     * One column.
     *
     * @param name the column's name
     * @param typeName the quoted, schema-qualified type, for casts ({@code "pg_catalog"."int4"})
     * @param type how values are converted for it
     * @param elementType for an array, its elements' type; {@link ColumnType#OTHER} otherwise
     * @param maxLength the most characters of a {@code varchar(n)}/{@code char(n)}, or -1
     */
    record Column(String name, String typeName, ColumnType type, ColumnType elementType, int maxLength) {
    }

    private final String sourceTable;
    private final String schema;
    private final String name;
    private final String qualifiedName;
    private final String versionColumn;
    private final Map<String, Column> columns;
    private final TableOverride override;
    private final boolean deletesFirst;
    private final Set<String> reportedUnmapped = ConcurrentHashMap.newKeySet();

    TargetTable(String sourceTable, String schema, String name, String versionColumn, Map<String, Column> columns,
            TableOverride override) {
        this(sourceTable, schema, name, versionColumn, columns, override, false);
    }

    /**
     * @param deletesFirst whether deletes may run before saves of other keys of this table
     *     ({@link Sql#introspectDeleteOrder()})
     */
    TargetTable(String sourceTable, String schema, String name, String versionColumn, Map<String, Column> columns,
            TableOverride override, boolean deletesFirst) {
        this.deletesFirst = deletesFirst;
        this.sourceTable = sourceTable;
        this.schema = schema;
        this.name = name;
        this.qualifiedName = Sql.qualified(schema, name);
        this.versionColumn = versionColumn;
        this.columns = Collections.unmodifiableMap(new LinkedHashMap<>(columns));
        this.override = override;
    }

    /**
     * The Django convention: {@code app.model} becomes {@code app_model} (lower case); a name without a
     * dot is kept as it is.
     */
    static String conventionalName(String sourceTable) {
        int dot = sourceTable.indexOf('.');
        if (dot < 0) {
            return sourceTable;
        }
        return sourceTable.replace('.', '_').toLowerCase(java.util.Locale.ROOT);
    }

    /** A column from an {@code information_schema.columns} row. */
    static Column column(String name, String udtSchema, String udtName, Integer maxLength) {
        ColumnType type = ColumnType.of(udtName);
        ColumnType element = type == ColumnType.ARRAY ? ColumnType.of(udtName.substring(1)) : ColumnType.OTHER;
        return new Column(name, Sql.qualified(udtSchema, udtName), type, element, maxLength == null ? -1 : maxLength);
    }

    String sourceTable() {
        return sourceTable;
    }

    String schema() {
        return schema;
    }

    String name() {
        return name;
    }

    /** {@code "schema"."name"}; also the table's name in the tombstone table. */
    String qualifiedName() {
        return qualifiedName;
    }

    String versionColumn() {
        return versionColumn;
    }

    boolean hasVersionColumn() {
        return columns.containsKey(versionColumn);
    }

    /**
     * Whether, among changes of distinct keys of this table, the deletes may be applied before the
     * saves: true unless a user trigger or a self-referencing foreign key that is immediate or acts on
     * delete could tell the difference (see {@link Sql#introspectDeleteOrder()}).
     */
    boolean deletesFirst() {
        return deletesFirst;
    }

    Map<String, Column> columns() {
        return columns;
    }

    /**
     * The column of a field: the override's, else the column of that name, else {@code <field>_id} (a
     * Django foreign key), else {@code null}. The version column is never a field's.
     */
    Column columnOf(String field) {
        String mapped = override.columns().get(field);
        if (mapped != null) {
            return columns.get(mapped);
        }
        Column c = columns.get(field);
        if (c == null) {
            c = columns.get(field + "_id");
        }
        return c == null || c.name().equals(versionColumn) ? null : c;
    }

    /** Whether this is the first time the field is reported as having no column. */
    boolean firstReportOfUnmapped(String field) {
        return reportedUnmapped.add(field);
    }
}
