package dev.changepipe.sink.postgres;

import dev.changepipe.core.ChangeItem;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One item converted for its statement: the shape of the statement (the same for every item of a table
 * with the same kind and columns, so that their rows go into one statement) and the values, each in the
 * text form PostgreSQL reads back with a cast to the column's type. Building one converts every value,
 * so a value that does not fit its column fails here, before anything is sent, naming table, column,
 * value and key.
 *
 * @param shape the statement's table, kind and columns
 * @param values per column of the shape, the value's text; {@code null} for SQL NULL
 * @param version the item's version
 * @param rowKey the key as the tombstone table stores it
 */
record Change(Shape shape, String[] values, long version, String rowKey) {

    /**
     * What a change's statement looks like: its table, kind and columns. Changes of one shape with
     * distinct keys are sent together as one statement.
     *
     * @param key identifies the shape (equal keys, equal shapes)
     * @param table the target table
     * @param columns the columns bound per row (for a delete, the key columns)
     * @param keyColumns the key columns
     * @param save a save (upsert) rather than a delete
     */
    record Shape(String key, TargetTable table, List<TargetTable.Column> columns, List<TargetTable.Column> keyColumns,
            boolean save) {
    }

    private static final Logger log = LoggerFactory.getLogger(Change.class);
    private static final int MAX_VALUE_CHARS = 200;

    /** Builds the statements of one sink; caches SQL text per table, kind and column list. */
    static final class Builder {
        private final String sink;
        private final String tombstones;
        private final boolean strictColumns;
        private final Map<String, Shape> shapes = new ConcurrentHashMap<>();
        private final Map<String, String> sqlCache = new ConcurrentHashMap<>();

        Builder(String sink, String schema, String tombstoneTable, boolean strictColumns) {
            this.sink = sink;
            this.tombstones = Sql.qualified(schema, tombstoneTable);
            this.strictColumns = strictColumns;
        }

        Change build(TargetTable table, ChangeItem item) {
            List<TargetTable.Column> keyColumns = new ArrayList<>(item.key().size());
            List<Object> keyValues = new ArrayList<>(item.key().size());
            for (Map.Entry<String, Object> e : item.key().entrySet()) {
                TargetTable.Column c = table.columnOf(e.getKey());
                if (c == null) {
                    throw new BadRecordException("unknown-column", sink, table.sourceTable(), e.getKey(), "key field '" + e.getKey()
                            + "' has no column in " + table.qualifiedName() + " (looked for '" + e.getKey() + "' and '"
                            + e.getKey() + "_id')", null);
                }
                if (e.getValue() == null) {
                    throw new BadRecordException("missing-key", sink, table.sourceTable(), c.name(), "key field '" + e.getKey()
                            + "' is null in a change of version " + item.version(), null);
                }
                keyColumns.add(c);
                keyValues.add(e.getValue());
            }
            String rowKey = rowKey(item.key());
            if (item.kind().isSave()) {
                return save(table, item, keyColumns, keyValues, rowKey);
            }
            return delete(table, item, keyColumns, keyValues, rowKey);
        }

        private Change save(TargetTable table, ChangeItem item, List<TargetTable.Column> keyColumns,
                List<Object> keyValues, String rowKey) {
            Map<TargetTable.Column, Object> values = new LinkedHashMap<>();
            for (int i = 0; i < keyColumns.size(); i++) {
                values.put(keyColumns.get(i), keyValues.get(i));
            }
            for (Map.Entry<String, Object> e : item.values().entrySet()) {
                TargetTable.Column c = table.columnOf(e.getKey());
                if (c == null) {
                    unmapped(table, e.getKey());
                    continue;
                }
                if (!keyColumns.contains(c)) {
                    values.put(c, e.getValue());
                }
            }
            List<TargetTable.Column> columns = new ArrayList<>(values.keySet());
            StringBuilder cacheKey = new StringBuilder("S").append(table.qualifiedName());
            for (TargetTable.Column c : columns) {
                cacheKey.append('\0').append(c.name());
            }
            cacheKey.append("\0\0").append(keyColumns.size());
            Shape shape = shapes.computeIfAbsent(cacheKey.toString(),
                    k -> new Shape(k, table, List.copyOf(columns), List.copyOf(keyColumns), true));
            String[] texts = new String[columns.size()];
            int i = 0;
            for (Map.Entry<TargetTable.Column, Object> e : values.entrySet()) {
                texts[i++] = convert(table, e.getKey(), e.getValue(), item);
            }
            return new Change(shape, texts, item.version(), rowKey);
        }

        /** Forgets the shapes and statements, whose tables may have changed (after a failed write). */
        void clear() {
            shapes.clear();
            sqlCache.clear();
        }

        /** The SQL of a shape's statement, which takes any number of its changes (as arrays). */
        String sql(Shape shape) {
            return sqlCache.computeIfAbsent(shape.key(),
                    k -> shape.save() ? Sql.upsert(shape, tombstones) : Sql.delete(shape, tombstones));
        }

        private Change delete(TargetTable table, ChangeItem item, List<TargetTable.Column> keyColumns,
                List<Object> keyValues, String rowKey) {
            String cacheKey = "D" + table.qualifiedName() + "\0" + keyColumns.stream().map(TargetTable.Column::name)
                    .reduce((a, b) -> a + "\0" + b).orElse("");
            Shape shape = shapes.computeIfAbsent(cacheKey,
                    k -> new Shape(k, table, List.copyOf(keyColumns), List.copyOf(keyColumns), false));
            String[] texts = new String[keyColumns.size()];
            for (int i = 0; i < texts.length; i++) {
                texts[i] = convert(table, keyColumns.get(i), keyValues.get(i), item);
            }
            return new Change(shape, texts, item.version(), rowKey);
        }

        /** The value converted for its column, as text ({@link ColumnType#sqlText}); {@code null} for NULL. */
        private String convert(TargetTable table, TargetTable.Column column, Object value, ChangeItem item) {
            if (value == null) {
                return null;
            }
            Object converted;
            try {
                converted = column.type().convert(value, column.elementType());
            } catch (RuntimeException e) {
                throw conversionError(table, column, value, item, reason(e), e);
            }
            if (column.maxLength() >= 0 && converted instanceof String s
                    && s.codePointCount(0, s.length()) > column.maxLength()) {
                throw conversionError(table, column, value, item, "longer than " + column.maxLength() + " characters",
                        null);
            }
            return ColumnType.sqlText(converted);
        }

        private BadRecordException conversionError(TargetTable table, TargetTable.Column column, Object value,
                ChangeItem item, String reason, Throwable cause) {
            return new BadRecordException("conversion", sink, table.sourceTable(), column.name(),
                    "cannot convert value " + show(value) + " for column " + Sql.quote(column.name()) + " ("
                            + column.typeName() + ") of " + table.qualifiedName() + ", key " + item.key()
                            + ", version " + item.version() + ": " + reason, cause);
        }

        private void unmapped(TargetTable table, String field) {
            if (strictColumns) {
                throw new BadRecordException("unknown-column", sink, table.sourceTable(), field, "field '" + field + "' has no column in "
                        + table.qualifiedName() + " (looked for '" + field + "' and '" + field
                        + "_id'; strictColumns is on)", null);
            }
            if (table.firstReportOfUnmapped(field)) {
                log.warn("sink {}: field '{}' of {} has no column in {}; skipping it (strictColumns is off)", sink,
                        field, table.sourceTable(), table.qualifiedName());
            }
        }
    }

    /**
     * The key as the tombstone table stores it: the value's text for a one-column key, a JSON object
     * of the columns in name order otherwise. Deterministic, so a replay finds its tombstone.
     */
    static String rowKey(Map<String, Object> key) {
        if (key.size() == 1) {
            Object v = key.values().iterator().next();
            return v instanceof BigDecimal d ? d.toPlainString() : String.valueOf(v);
        }
        return JsonText.write(new TreeMap<>(key));
    }

    private static String reason(RuntimeException e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return e.getCause() != null && e.getCause().getMessage() != null ? m + " (" + e.getCause().getMessage() + ")" : m;
    }

    private static String show(Object value) {
        String s = value instanceof String str ? "'" + str + "'" : JsonText.write(value);
        if (s.length() > MAX_VALUE_CHARS) {
            s = s.substring(0, MAX_VALUE_CHARS) + "...(" + s.length() + " chars)";
        }
        return s + " (" + value.getClass().getSimpleName() + ")";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Change c && shape.key().equals(c.shape.key()) && Arrays.equals(values, c.values)
                && version == c.version && rowKey.equals(c.rowKey);
    }

    @Override
    public int hashCode() {
        return (shape.key().hashCode() * 31 + Arrays.hashCode(values)) * 31 + Long.hashCode(version);
    }

    @Override
    public String toString() {
        return "Change[" + (shape.save() ? "save " : "delete ") + shape.table().qualifiedName() + " "
                + Arrays.toString(values) + " version " + version + "]";
    }
}
