package dev.changepipe.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The column names of a series of rows (the columns of one query result, the fields of one table),
 * made once and shared by the rows, which then hold only their values.
 *
 * <p>A {@linkplain #row row} is an immutable map in column order that allows {@code null} values and
 * is equal to any other map with the same entries. {@link ChangeItem} keeps such a map as it is,
 * where it copies any other map, so a source that reads many rows with the same columns builds one
 * {@code Columns} and passes {@code columns.row(values)} as the item's key or values:
 *
 * <pre>{@code
 * Columns columns = Columns.of("id", "name", "price");
 * ChangeItem item = ChangeItem.insert("shop.product", Map.of("id", 7L),
 *         columns.row(7L, "chair", null), version);
 * }</pre>
 *
 * <p>Immutable and thread-safe; one instance may serve any number of threads.
 */
public final class Columns {

    private final String[] names;
    private final Map<String, Integer> index;
    private final Set<String> nameSet;
    private final List<String> nameList;

    private Columns(String[] names) {
        Map<String, Integer> byName = new LinkedHashMap<>((int) (names.length / 0.75f) + 1);
        for (int i = 0; i < names.length; i++) {
            String name = names[i];
            if (name == null) {
                throw new NullPointerException("column " + i + " has no name (null)");
            }
            Integer earlier = byName.putIfAbsent(name, i);
            if (earlier != null) {
                throw new IllegalArgumentException("column name '" + name + "' is given twice, at positions "
                        + earlier + " and " + i);
            }
        }
        this.names = names;
        this.index = byName;
        this.nameSet = Collections.unmodifiableSet(byName.keySet());
        this.nameList = List.of(names);
    }

    /**
     * The columns with these names, in this order. The array is copied.
     *
     * @throws NullPointerException if a name is {@code null}
     * @throws IllegalArgumentException if a name is given twice; the message names it
     */
    public static Columns of(String... names) {
        Objects.requireNonNull(names, "names");
        return new Columns(names.clone());
    }

    /** The names, in column order. */
    public List<String> names() {
        return nameList;
    }

    /**
     * One row: an immutable map from each column's name to the value at the same position, in
     * column order. The array is copied; values may be {@code null}. {@code get} and
     * {@code containsKey} take constant time.
     *
     * @throws IllegalArgumentException if there is not exactly one value per column
     */
    public Map<String, Object> row(Object... values) {
        Objects.requireNonNull(values, "values");
        if (values.length != names.length) {
            throw new IllegalArgumentException("a row of " + names.length + " columns " + nameList + " was given "
                    + values.length + " values");
        }
        return new ColumnValues(this, values.clone());
    }

    /** The position of the column with this name, or -1. */
    int indexOf(Object name) {
        Integer i = index.get(name);
        return i == null ? -1 : i;
    }

    String name(int i) {
        return names[i];
    }

    int size() {
        return names.length;
    }

    /** The names as an unmodifiable set in column order, shared by every row. */
    Set<String> nameSet() {
        return nameSet;
    }

    @Override
    public String toString() {
        return "Columns" + nameList;
    }
}
