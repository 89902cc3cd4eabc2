package dev.changepipe.source.cdc;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Columns;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The columns of one table as the source reads them: names, type OIDs (which {@link TextValues}
 * converts by), the SQL type of each (for casts of bound key values; {@code null} when only the
 * stream described the table) and the positions of the key columns.
 */
final class TableShape {

    final TableName name;
    final String id;
    final String[] columns;
    final int[] types;
    /** The type modifiers (a numeric's precision and scale), -1 when unknown. */
    final int[] typeModifiers;
    final String[] sqlTypes;
    final int[] key;
    final Columns valueColumns;
    final Columns keyColumns;
    /** What an item of this table holds besides its values' contents (see {@link #estimateSize}). */
    private final long fixedBytes;

    TableShape(TableName name, String[] columns, int[] types, String[] sqlTypes, int[] key) {
        if (key.length == 0) {
            throw new IllegalArgumentException("table " + name + " has no key columns");
        }
        this.name = name;
        this.id = name.id();
        this.columns = columns;
        this.types = types;
        this.typeModifiers = new int[columns.length];
        java.util.Arrays.fill(typeModifiers, -1);
        this.sqlTypes = sqlTypes;
        this.key = key;
        this.valueColumns = Columns.of(columns);
        String[] keyNames = new String[key.length];
        for (int i = 0; i < key.length; i++) {
            keyNames[i] = columns[key[i]];
        }
        this.keyColumns = Columns.of(keyNames);
        // ChangeItem.estimateSize's figure for a row of nulls (it walks the maps, which costs more than the rest of a row)
        this.fixedBytes = ChangeItem.estimateSize(id, keyColumns.row(new Object[key.length]),
                valueColumns.row(new Object[columns.length])) + 24L * key.length;
    }

    /** The indexes of the columns that {@code before} (a former shape's columns) lacks. */
    int[] addedSince(String[] before) {
        List<String> known = Arrays.asList(before);
        return java.util.stream.IntStream.range(0, columns.length).filter(i -> !known.contains(columns[i])).toArray();
    }

    /** An insert or update of a row of these values (its key's among them), of {@code bytes} in memory. */
    ChangeItem item(ChangeItem.Kind kind, Object[] values, long version, Instant commitTime, long bytes) {
        Object[] keyValues = new Object[key.length];
        for (int i = 0; i < keyValues.length; i++) {
            keyValues[i] = values[key[i]];
        }
        return new ChangeItem(kind, id, keyColumns.row(keyValues), valueColumns.row(values), version, commitTime, bytes);
    }

    /** {@code ChangeItem.estimateSize}'s figure for a row of these values (or a key's texts), without walking maps. */
    long estimateSize(Object[] values) {
        long size = fixedBytes;
        for (Object v : values) {
            if (v instanceof String s) {
                size += 40 + 2L * s.length();
            } else if (v instanceof byte[] b) {
                size += 16 + b.length;
            } else if (v instanceof dev.changepipe.core.JsonValue || v instanceof List) {
                // a document, an array's elements: what they hold, not one object's worth
                size += ChangeItem.estimateValue(v);
            } else if (v != null) {
                size += 24;
            }
        }
        return size;
    }

    /**
     * The shape a relation message gives, keyed by the catalog's key columns when the relation has them
     * all (the primary key even under {@code REPLICA IDENTITY FULL}), else by the relation's own key flags.
     */
    static TableShape of(PgOutput.Relation relation, TableShape catalog) {
        int n = relation.columns().size();
        String[] columns = new String[n];
        int[] types = new int[n];
        int[] modifiers = new int[n];
        String[] sqlTypes = new String[n];
        List<Integer> flagged = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            PgOutput.Column c = relation.columns().get(i);
            columns[i] = c.name();
            types[i] = c.typeOid();
            modifiers[i] = c.typeModifier();
            int known = catalog == null ? -1 : catalog.indexOf(c.name());
            sqlTypes[i] = known >= 0 && catalog.types[known] == c.typeOid() ? catalog.sqlTypes[known] : null;
            if (c.key()) {
                flagged.add(i);
            }
        }
        int[] key = null;
        if (catalog != null) {
            key = new int[catalog.key.length];
            for (int i = 0; i < key.length && key != null; i++) {
                key[i] = indexOf(columns, catalog.columns[catalog.key[i]]);
                if (key[i] < 0) {
                    key = null;
                }
            }
        }
        if (key == null) {
            key = flagged.stream().mapToInt(Integer::intValue).toArray();
        }
        TableName name = catalog != null ? catalog.name : new TableName(relation.schema(), relation.name());
        TableShape shape = new TableShape(name, columns, types, sqlTypes, key);
        System.arraycopy(modifiers, 0, shape.typeModifiers, 0, n);
        return shape;
    }

    int indexOf(String column) {
        return indexOf(columns, column);
    }

    private static int indexOf(String[] columns, String column) {
        for (int i = 0; i < columns.length; i++) {
            if (columns[i].equals(column)) {
                return i;
            }
        }
        return -1;
    }

    /** The key's text values out of a row's, or {@code null} when one of them is missing. */
    String[] keyText(String[] row) {
        String[] out = new String[key.length];
        for (int i = 0; i < key.length; i++) {
            String v = key[i] < row.length ? row[key[i]] : null;
            if (v == null || v == PgOutput.UNCHANGED) {
                return null;
            }
            out[i] = v;
        }
        return out;
    }

    /** The key's values converted, in key order. */
    Object[] keyValues(String[] keyText) {
        Object[] out = new Object[key.length];
        for (int i = 0; i < key.length; i++) {
            out[i] = TextValues.convert(types[key[i]], keyText[i]);
        }
        return out;
    }

    /** Same columns, types and key as another shape. */
    boolean sameAs(TableShape other) {
        return Arrays.equals(columns, other.columns) && Arrays.equals(types, other.types)
                && Arrays.equals(key, other.key);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(columns);
    }
}
