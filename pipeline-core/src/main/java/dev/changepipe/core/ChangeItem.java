package dev.changepipe.core;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One change of one row: an insert, an update or a delete of the row identified by {@code key} in
 * {@code table}. Immutable; the maps keep the order they were given in and may hold {@code null}
 * values.
 *
 * <p>The constructor copies the maps it is given, except the ones already immutable and ordered: a
 * row of {@link Columns}, kept as it is (a source that reads many rows with the same columns should
 * pass those), and an empty map, replaced by {@link Map#of()}.
 *
 * <p>The {@code version} strictly increases in source order for a given key and is the same every
 * time the same source record is read again (DESIGN.md section 5). Sinks use it to make replays
 * idempotent: a change never overwrites a newer one.
 *
 * @param kind what happened to the row
 * @param table the source table, for Django models {@code app.model}
 * @param key the key columns and their values; never empty
 * @param values the row after the change (all columns, key included where the source has them);
 *     empty for a delete that carries no image
 * @param version deterministic, per-key increasing version
 * @param commitTime when the source committed the change, or {@code null} when unknown
 * @param sizeBytes an estimate of the memory this item holds, for accounting
 */
public record ChangeItem(
        Kind kind,
        String table,
        Map<String, Object> key,
        Map<String, Object> values,
        long version,
        Instant commitTime,
        long sizeBytes) {

    /** What happened to a row. */
    public enum Kind {
        INSERT,
        UPDATE,
        DELETE;

        /** Whether the item carries the row to save (an insert or an update). */
        public boolean isSave() {
            return this != DELETE;
        }
    }

    public ChangeItem {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(table, "table");
        Objects.requireNonNull(key, "key");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("ChangeItem of table " + table + " has an empty key");
        }
        if (sizeBytes < 0) {
            throw new IllegalArgumentException("sizeBytes must not be negative: " + sizeBytes);
        }
        key = immutable(key);
        values = values == null || values.isEmpty() ? Map.of() : immutable(values);
    }

    /** An insert with an estimated size. */
    public static ChangeItem insert(String table, Map<String, Object> key, Map<String, Object> values, long version) {
        return of(Kind.INSERT, table, key, values, version);
    }

    /** An update with an estimated size. */
    public static ChangeItem update(String table, Map<String, Object> key, Map<String, Object> values, long version) {
        return of(Kind.UPDATE, table, key, values, version);
    }

    /** A delete without an image, with an estimated size. */
    public static ChangeItem delete(String table, Map<String, Object> key, long version) {
        return of(Kind.DELETE, table, key, Map.of(), version);
    }

    /** A change with no commit time and a size estimated from its contents. */
    public static ChangeItem of(Kind kind, String table, Map<String, Object> key, Map<String, Object> values, long version) {
        return new ChangeItem(kind, table, key, values, version, null,
                estimateSize(table, key, values == null ? Map.of() : values));
    }

    /**
     * A rough estimate of the heap an item with these contents holds: object headers plus the
     * characters of strings. Good enough for in-flight accounting, never zero.
     */
    public static long estimateSize(String table, Map<String, Object> key, Map<String, Object> values) {
        long size = 96 + 2L * table.length();
        size += estimateMap(key);
        size += estimateMap(values);
        return size;
    }

    private static long estimateMap(Map<String, ?> map) {
        long size = 48;
        for (Map.Entry<String, ?> e : map.entrySet()) {
            size += 48 + 2L * e.getKey().length() + estimateValue(e.getValue());
        }
        return size;
    }

    /**
     * What one value takes in memory, about: a string its characters, a {@link JsonValue} its text, a byte
     * array its bytes, a map or a list its entries; any other value 24 bytes.
     */
    public static long estimateValue(Object value) {
        if (value == null) {
            return 0;
        }
        if (value instanceof CharSequence s) {
            return 40 + 2L * s.length();
        }
        if (value instanceof JsonValue j) {
            return 56 + 2L * j.text().length();
        }
        if (value instanceof byte[] b) {
            return 16 + b.length;
        }
        if (value instanceof Map<?, ?> m) {
            long size = 48;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                size += 32 + estimateValue(e.getKey()) + estimateValue(e.getValue());
            }
            return size;
        }
        if (value instanceof Iterable<?> it) {
            long size = 40;
            for (Object o : it) {
                size += 8 + estimateValue(o);
            }
            return size;
        }
        return 24;
    }

    /** The map itself when it is a row of {@link Columns} (immutable, ordered), else a read-only copy. */
    private static Map<String, Object> immutable(Map<String, Object> map) {
        if (map instanceof ColumnValues) {
            return map;
        }
        return Collections.unmodifiableMap(new LinkedHashMap<>(map));
    }
}
