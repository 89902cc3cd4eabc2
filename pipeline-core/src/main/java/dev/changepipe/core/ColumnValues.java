package dev.changepipe.core;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * One row of {@link Columns}: the shared names and this row's own copy of the values, side by side.
 * Immutable: every mutator, of the map and of its views, throws {@link UnsupportedOperationException}
 * whether or not it would change anything, and the entries' {@code setValue} too. {@code forEach}
 * walks the arrays without making entries.
 */
final class ColumnValues extends AbstractMap<String, Object> {

    private final Columns columns;
    private final Object[] values;

    /** Takes {@code values} as it is: the caller gives up the array. */
    ColumnValues(Columns columns, Object[] values) {
        this.columns = columns;
        this.values = values;
    }

    @Override
    public int size() {
        return values.length;
    }

    @Override
    public boolean isEmpty() {
        return values.length == 0;
    }

    @Override
    public boolean containsKey(Object key) {
        return columns.indexOf(key) >= 0;
    }

    @Override
    public boolean containsValue(Object value) {
        for (Object v : values) {
            if (Objects.equals(v, value)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public Object get(Object key) {
        int i = columns.indexOf(key);
        return i < 0 ? null : values[i];
    }

    @Override
    public Object getOrDefault(Object key, Object defaultValue) {
        int i = columns.indexOf(key);
        return i < 0 ? defaultValue : values[i];
    }

    @Override
    public void forEach(BiConsumer<? super String, ? super Object> action) {
        Objects.requireNonNull(action, "action");
        for (int i = 0; i < values.length; i++) {
            action.accept(columns.name(i), values[i]);
        }
    }

    @Override
    public Set<String> keySet() {
        return columns.nameSet();
    }

    @Override
    public Collection<Object> values() {
        return Collections.unmodifiableCollection(Arrays.asList(values));
    }

    @Override
    public Set<Map.Entry<String, Object>> entrySet() {
        return Collections.unmodifiableSet(new Entries());
    }

    @Override
    public boolean equals(Object o) {
        if (o == this) {
            return true;
        }
        if (o instanceof ColumnValues other && other.columns == columns) {
            return Arrays.equals(values, other.values);
        }
        if (!(o instanceof Map<?, ?> m) || m.size() != values.length) {
            return false;
        }
        try {
            for (int i = 0; i < values.length; i++) {
                String name = columns.name(i);
                Object value = values[i];
                if (value == null) {
                    if (m.get(name) != null || !m.containsKey(name)) {
                        return false;
                    }
                } else if (!value.equals(m.get(name))) {
                    return false;
                }
            }
        } catch (ClassCastException | NullPointerException unused) {
            return false; // as AbstractMap.equals: a map that cannot hold these keys is not equal
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 0;
        for (int i = 0; i < values.length; i++) {
            h += columns.name(i).hashCode() ^ Objects.hashCode(values[i]);
        }
        return h;
    }

    // toString: AbstractMap's, over the entries in column order.

    @Override
    public Object put(String key, Object value) {
        throw readOnly();
    }

    @Override
    public Object remove(Object key) {
        throw readOnly();
    }

    @Override
    public void putAll(Map<? extends String, ?> m) {
        throw readOnly();
    }

    @Override
    public void clear() {
        throw readOnly();
    }

    @Override
    public void replaceAll(BiFunction<? super String, ? super Object, ?> function) {
        throw readOnly();
    }

    @Override
    public Object putIfAbsent(String key, Object value) {
        throw readOnly();
    }

    @Override
    public boolean remove(Object key, Object value) {
        throw readOnly();
    }

    @Override
    public boolean replace(String key, Object oldValue, Object newValue) {
        throw readOnly();
    }

    @Override
    public Object replace(String key, Object value) {
        throw readOnly();
    }

    @Override
    public Object computeIfAbsent(String key, Function<? super String, ?> mappingFunction) {
        throw readOnly();
    }

    @Override
    public Object computeIfPresent(String key, BiFunction<? super String, ? super Object, ?> remappingFunction) {
        throw readOnly();
    }

    @Override
    public Object compute(String key, BiFunction<? super String, ? super Object, ?> remappingFunction) {
        throw readOnly();
    }

    @Override
    public Object merge(String key, Object value, BiFunction<? super Object, ? super Object, ?> remappingFunction) {
        throw readOnly();
    }

    private static UnsupportedOperationException readOnly() {
        return new UnsupportedOperationException("a row of Columns is immutable");
    }

    /** The entries in column order; wrapped read-only by {@link #entrySet}. */
    private final class Entries extends AbstractSet<Map.Entry<String, Object>> {

        @Override
        public int size() {
            return values.length;
        }

        @Override
        public boolean contains(Object o) {
            if (!(o instanceof Map.Entry<?, ?> e)) {
                return false;
            }
            int i = columns.indexOf(e.getKey());
            return i >= 0 && Objects.equals(values[i], e.getValue());
        }

        @Override
        public Iterator<Map.Entry<String, Object>> iterator() {
            return new Iterator<>() {
                private int next;

                @Override
                public boolean hasNext() {
                    return next < values.length;
                }

                @Override
                public Map.Entry<String, Object> next() {
                    if (next >= values.length) {
                        throw new NoSuchElementException();
                    }
                    int i = next++;
                    return new AbstractMap.SimpleImmutableEntry<>(columns.name(i), values[i]);
                }
            };
        }
    }
}
