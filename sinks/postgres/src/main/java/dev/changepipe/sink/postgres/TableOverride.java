package dev.changepipe.sink.postgres;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How one source table is mapped when the Django conventions do not fit. Immutable.
 *
 * @param targetTable the target table's name (unquoted, exact case), or {@code null} for the default
 *     ({@code app.model} becomes {@code app_model})
 * @param columns field name to column name (unquoted, exact case), for fields that do not map by
 *     convention; fields not listed here map by convention
 */
public record TableOverride(String targetTable, Map<String, String> columns) {

    public TableOverride {
        if (targetTable != null && targetTable.isBlank()) {
            throw new IllegalArgumentException("table override: targetTable must not be blank");
        }
        Objects.requireNonNull(columns, "table override: columns");
        for (Map.Entry<String, String> e : columns.entrySet()) {
            if (e.getKey() == null || e.getValue() == null || e.getValue().isBlank()) {
                throw new IllegalArgumentException("table override: column mapping " + e + " needs a field and a column");
            }
        }
        columns = Collections.unmodifiableMap(new LinkedHashMap<>(columns));
    }

    /** No override: the conventions apply. */
    static final TableOverride NONE = new TableOverride(null, Map.of());

    /** This override with the target table set. */
    public TableOverride withTargetTable(String table) {
        return new TableOverride(table, columns);
    }

    /** This override with one more field mapped to a column. */
    public TableOverride withColumn(String field, String column) {
        Map<String, String> copy = new LinkedHashMap<>(columns);
        copy.put(Objects.requireNonNull(field, "field"), Objects.requireNonNull(column, "column"));
        return new TableOverride(targetTable, copy);
    }
}
