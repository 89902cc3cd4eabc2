package dev.changepipe.source.oplog;

import dev.changepipe.core.Columns;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The column layouts of one parser: one {@link Columns} per field-name sequence, shared by every row
 * with that sequence and every parse thread, so a row holds only its values. Each thread looks its
 * layouts up through a {@link Local} cache that remembers the last layout of each table and compares
 * the names of a row with it, so a row of a known layout costs no lookup by key.
 *
 * <p>At most {@value #MAX_SHARED} layouts are kept; past that (a log whose rows all have different
 * field sets) each row gets its own {@code Columns}, and the row is charged for it.
 */
final class Layouts {

    static final int MAX_SHARED = 10_000;

    private static final int MAX_LOCAL_TABLES = 4096;

    private final Map<List<String>, Columns> shared = new ConcurrentHashMap<>();

    /** The shared columns with these names, or null when the cache is full. */
    private Columns columns(List<String> names) {
        Columns c = shared.get(names);
        if (c != null) {
            return c;
        }
        if (shared.size() >= MAX_SHARED) {
            return null;
        }
        return shared.computeIfAbsent(names, n -> Columns.of(n.toArray(String[]::new)));
    }

    /**
     * How one thread turns a row's names and values into a row of {@link Columns}: the columns, which
     * value goes to which column (the last one of a name given twice, in the place of the first, as a
     * JSON object reads), and a scratch array of the row's length.
     */
    static final class Layout {
        private final String[] names;
        private final Columns columns;
        private final int[] pick;
        private final Object[] scratch;
        private final long unsharedBytes;

        private Layout(String[] names, Columns columns, int[] pick, long unsharedBytes) {
            this.names = names;
            this.columns = columns;
            this.pick = pick;
            this.scratch = new Object[columns.names().size()];
            this.unsharedBytes = unsharedBytes;
        }

        Columns columns() {
            return columns;
        }

        /** The heap a row must be charged for its columns: 0 when they are shared. */
        long unsharedBytes() {
            return unsharedBytes;
        }

        boolean matches(String[] rowNames, int n) {
            if (n != names.length) {
                return false;
            }
            for (int i = 0; i < n; i++) {
                String a = rowNames[i];
                String b = names[i];
                if (a != b && !a.equals(b)) {
                    return false;
                }
            }
            return true;
        }

        /** The values in column order, in an array that {@code Columns.row} copies before the next call. */
        Object[] arrange(Object[] values, int n) {
            if (pick == null) {
                System.arraycopy(values, 0, scratch, 0, n);
            } else {
                for (int i = 0; i < pick.length; i++) {
                    scratch[i] = values[pick[i]];
                }
            }
            return scratch;
        }
    }

    /** One thread's cache. Not thread safe. */
    static final class Local {
        private final Map<String, Layout> byTable = new HashMap<>();
        private final Map<String, Columns> keys = new HashMap<>();

        /** The columns of a one-column key. */
        Columns key(Layouts layouts, String name) {
            Columns c = keys.get(name);
            if (c == null) {
                c = layouts.columns(List.of(name));
                if (c == null) {
                    return Columns.of(name);
                }
                keys.put(name, c);
            }
            return c;
        }

        /** The layout of a row of {@code table} with {@code names[0, n)}. */
        Layout values(Layouts layouts, String table, String[] names, Object[] values, int n) {
            Layout last = byTable.get(table);
            if (last != null && last.matches(names, n)) {
                return last;
            }
            String[] copy = Arrays.copyOf(names, n);
            Map<String, Integer> lastIndex = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                lastIndex.put(copy[i], i);
            }
            int[] pick = null;
            List<String> unique;
            if (lastIndex.size() == n) {
                unique = List.of(copy);
            } else {
                unique = new ArrayList<>(lastIndex.keySet());
                pick = lastIndex.values().stream().mapToInt(Integer::intValue).toArray();
            }
            Columns columns = layouts.columns(unique);
            long unsharedBytes = 0;
            if (columns == null) {
                columns = Columns.of(unique.toArray(String[]::new));
                unsharedBytes = 200 + 120L * unique.size();
            }
            Layout layout = new Layout(copy, columns, pick, unsharedBytes);
            if (unsharedBytes == 0) {
                if (byTable.size() >= MAX_LOCAL_TABLES) {
                    byTable.clear();
                }
                byTable.put(table, layout);
            }
            return layout;
        }
    }
}
