package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.ChangeItem;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One target table as introspected from {@code system.columns}: which columns can be written, how a
 * source field maps to a column, and how an item becomes a row of canonical values. Thread-safe
 * (immutable apart from the field-resolution cache and the ignored-field counters).
 */
final class TableWriter {

    private static final Logger log = LoggerFactory.getLogger(TableWriter.class);
    static final int NO_COLUMN = -1;

    /** A writable column; {@code defaultExpression} when the server computes a missing value. */
    record Column(String name, ColumnType type, boolean defaultExpression) {
    }

    /** A row: values of every column in {@link #columns()} order; {@code missing} columns take the server's default. */
    record Row(Object[] values, BitSet missing) {
    }

    /**
     * One INSERT: the columns (indexes into {@link #columns()}) and the rows, each either converted
     * values ({@code Object[]}, in column order) or a save or delete {@link ChangeItem} converted
     * while the insert streams (see {@link #values(Object)}).
     */
    record Insert(int[] columns, List<?> rows, ChunkRows chunk) {
        Insert(int[] columns, List<?> rows) {
            this(columns, rows, null);
        }
    }

    /**
     * Where the rows of an insert come from, written into the chunk columns (append mode on servers
     * without insert deduplication tokens): the chunk's origin and offset, and the ordinal, among the
     * chunk's rows of this table, of the insert's first row (the others follow in order).
     */
    record ChunkRows(String origin, long offset, int firstRow) {
    }

    private final String sink;
    private final String sourceTable;
    private final String target;
    private final WriteMode mode;
    private final List<Column> columns;
    private final ColumnType[] types;
    /** The type defaults; shared between rows, never mutated (byte arrays and lists included). */
    private final Object[] zeros;
    private final Map<String, Integer> byName = new HashMap<>();
    private final int versionIndex;
    private final int deletedIndex;
    private final int signIndex;
    private final int originIndex;
    private final int offsetIndex;
    private final int rowIndex;
    private final ClickHouseSinkOptions options;
    private final Map<String, Integer> fieldToColumn = new ConcurrentHashMap<>();
    private final Set<String> ignoredFields = ConcurrentHashMap.newKeySet();
    private final AtomicLong ignoredValues = new AtomicLong();
    /** The writable columns of the partition and sorting keys, sink columns excepted: see {@link #tombstoneColumns()}. */
    private final int[] tombstoneColumns;

    TableWriter(ClickHouseSinkOptions options, String sourceTable, String target, WriteMode mode,
            List<Column> columns) {
        this(options, sourceTable, target, mode, columns, Set.of());
    }

    /**
     * @param keyExpressionColumns the columns the table's partition key and sorting key are computed
     *     from (see {@link #tombstoneColumns()})
     */
    TableWriter(ClickHouseSinkOptions options, String sourceTable, String target, WriteMode mode,
            List<Column> columns, Set<String> keyExpressionColumns) {
        this.sink = options.name();
        this.options = options;
        this.sourceTable = sourceTable;
        this.target = target;
        this.mode = mode;
        this.columns = List.copyOf(columns);
        this.types = new ColumnType[columns.size()];
        this.zeros = new Object[columns.size()];
        for (int i = 0; i < columns.size(); i++) {
            types[i] = columns.get(i).type();
            zeros[i] = Values.zero(types[i]);
            byName.put(columns.get(i).name(), i);
        }
        this.versionIndex = byName.getOrDefault(options.versionColumn(), NO_COLUMN);
        this.deletedIndex = byName.getOrDefault(options.deletedColumn(), NO_COLUMN);
        this.signIndex = byName.getOrDefault(options.signColumn(), NO_COLUMN);
        this.originIndex = byName.getOrDefault(options.originColumn(), NO_COLUMN);
        this.offsetIndex = byName.getOrDefault(options.offsetColumn(), NO_COLUMN);
        this.rowIndex = byName.getOrDefault(options.rowColumn(), NO_COLUMN);
        requireColumns(options);
        requireTypes(options);
        List<Integer> tombstone = new ArrayList<>();
        for (int i = 0; i < columns.size(); i++) {
            if (keyExpressionColumns.contains(columns.get(i).name()) && !isSinkColumn(i)) {
                tombstone.add(i);
            }
        }
        this.tombstoneColumns = tombstone.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Refuses a version, sign or deleted column that cannot hold what the sink writes into it: versions
     * are non-negative {@code long}s up to 2^63-1 (only {@code UInt64} and {@code Int64} hold them all;
     * a narrower column would wrap them and let the wrong row win), the sign is -1 or 1, the deleted flag
     * 0 or 1. A permanent error naming the table, the column, its type and the type needed.
     */
    private void requireTypes(ClickHouseSinkOptions options) {
        if (versionIndex != NO_COLUMN) {
            ColumnType t = types[versionIndex];
            boolean wide = (t.kind() == ColumnType.Kind.UINT || t.kind() == ColumnType.Kind.INT) && t.bytes() == 8;
            if (!wide) {
                throw typeError(options.versionColumn(), t, "UInt64 (or Int64): versions are non-negative 64-bit"
                        + " numbers up to 2^63-1, which a " + t + " column would truncate");
            }
        }
        if (mode == WriteMode.COLLAPSING && signIndex != NO_COLUMN && types[signIndex].kind() != ColumnType.Kind.INT) {
            throw typeError(options.signColumn(), types[signIndex], "Int8 (a signed integer): the sign is -1 or 1");
        }
        if (mode == WriteMode.REPLACING && deletedIndex != NO_COLUMN) {
            ColumnType.Kind k = types[deletedIndex].kind();
            if (k != ColumnType.Kind.UINT && k != ColumnType.Kind.INT && k != ColumnType.Kind.BOOL) {
                throw typeError(options.deletedColumn(), types[deletedIndex], "UInt8: the deleted flag is 0 or 1");
            }
        }
    }

    private ClickHouseWriteException typeError(String column, ColumnType type, String needed) {
        return new ClickHouseWriteException(sink, target, column, "table " + options.database() + "." + target
                + ": column " + column + " has type " + type + "; the " + mode.name().toLowerCase() + " mode needs "
                + needed, null, false, 0, 0);
    }

    private void requireColumns(ClickHouseSinkOptions options) {
        switch (mode) {
            case REPLACING:
                require(versionIndex, options.versionColumn(), "UInt64");
                require(deletedIndex, options.deletedColumn(), "UInt8");
                break;
            case COLLAPSING:
                require(versionIndex, options.versionColumn(), "UInt64");
                require(signIndex, options.signColumn(), "Int8");
                break;
            default:
                break;
        }
    }

    private void require(int index, String column, String type) {
        if (index == NO_COLUMN) {
            throw new ClickHouseWriteException(sink, target, column, "the " + mode.name().toLowerCase()
                    + " mode needs a column " + column + " " + type + " in the table", null, false, 0, 0);
        }
    }

    /**
     * Checks that an append table has the chunk columns (needed on servers without insert
     * deduplication tokens): a permanent error naming the table, the missing columns, why they are
     * needed and the ALTER statement that adds them.
     */
    void requireChunkColumns(String database) {
        List<String> missing = new ArrayList<>();
        List<String> adds = new ArrayList<>();
        String[][] wanted = {
                {options.originColumn(), "String"}, {options.offsetColumn(), "UInt64"}, {options.rowColumn(), "UInt32"}};
        int[] indexes = {originIndex, offsetIndex, rowIndex};
        for (int i = 0; i < wanted.length; i++) {
            if (indexes[i] == NO_COLUMN) {
                missing.add(wanted[i][0] + " " + wanted[i][1]);
                adds.add("ADD COLUMN " + Sql.identifier(wanted[i][0]) + " " + wanted[i][1]);
            }
        }
        if (!missing.isEmpty()) {
            throw new ClickHouseWriteException(sink, target, String.join(", ", missing.stream()
                    .map(m -> m.substring(0, m.indexOf(' '))).toList()),
                    "append table " + database + "." + target + " lacks the column(s) " + String.join(", ", missing)
                    + ": this server has no insert deduplication tokens, so the append mode records in every row the"
                    + " chunk it came from (origin, offset) and its ordinal in that chunk, to write only the rows a"
                    + " replayed chunk has not written yet; add them with: ALTER TABLE " + Sql.table(database, target)
                    + " " + String.join(", ", adds), null, false, 0, 0);
        }
        ColumnType origin = types[originIndex];
        ColumnType offset = types[offsetIndex];
        ColumnType row = types[rowIndex];
        if (origin.kind() != ColumnType.Kind.STRING || offset.kind() != ColumnType.Kind.UINT || offset.bytes() != 8
                || row.kind() != ColumnType.Kind.UINT || row.bytes() < 4) {
            throw new ClickHouseWriteException(sink, target, null, "append table " + database + "." + target
                    + " has the chunk columns with the wrong types (" + options.originColumn() + " " + origin + ", "
                    + options.offsetColumn() + " " + offset + ", " + options.rowColumn() + " " + row + "); they must be "
                    + "String, UInt64 and UInt32", null, false, 0, 0);
        }
    }

    int originIndex() {
        return originIndex;
    }

    int offsetIndex() {
        return offsetIndex;
    }

    int rowIndex() {
        return rowIndex;
    }

    String originColumn() {
        return options.originColumn();
    }

    String offsetColumn() {
        return options.offsetColumn();
    }

    /** Whether a column is set by the sink itself (mode and chunk columns), never from an item. */
    boolean isSinkColumn(int c) {
        return c == versionIndex || c == deletedIndex || c == signIndex || c == originIndex || c == offsetIndex
                || c == rowIndex;
    }

    String target() {
        return target;
    }

    WriteMode mode() {
        return mode;
    }

    List<Column> columns() {
        return columns;
    }

    ColumnType[] types() {
        return types;
    }

    int versionIndex() {
        return versionIndex;
    }

    int signIndex() {
        return signIndex;
    }

    int deletedIndex() {
        return deletedIndex;
    }

    String sink() {
        return sink;
    }

    /** The value a column takes when a row has none (never mutated). */
    Object zero(int column) {
        return zeros[column];
    }

    /** Counts values of fields without a column dropped by an encoder. */
    void countIgnored(long values) {
        if (values > 0) {
            ignoredValues.addAndGet(values);
        }
    }

    /** Whether an insert is {@link #streamed}: every column, rows still items. */
    boolean isStreamed(Insert insert) {
        return insert.columns().length == types.length && !insert.rows().isEmpty()
                && insert.rows().get(0) instanceof ChangeItem;
    }

    /** The error of a value that does not convert, naming table, column, value, field and key. */
    ClickHouseWriteException conversionError(ChangeItem item, int column, String field, Object value,
            Values.ConversionException ex) {
        return ClickHouseWriteException.badRecord("conversion", sink, target, columns.get(column).name(),
                "cannot convert value " + Values.describe(value) + " of field " + field
                        + " to " + types[column] + " (key " + item.key() + "): " + ex.getMessage(), 0);
    }

    /**
     * Why the sink refuses this item for its own content (converting it as its write would), or
     * {@code null} when it is fine.
     */
    ClickHouseWriteException rejection(ChangeItem item) {
        try {
            boolean save = item.kind().isSave();
            row(item, save, mode == WriteMode.REPLACING && !save, 1);
            return null;
        } catch (ClickHouseWriteException e) {
            if (e.isBadRecord()) {
                return e;
            }
            throw e;
        }
    }

    /**
     * Rejects an item with a negative version (the version column, refused unless it holds every
     * non-negative {@code long}, then holds every version: nothing is ever wrapped).
     */
    void checkVersion(ChangeItem item) {
        if (item.version() < 0) {
            throw ClickHouseWriteException.badRecord("version", sink, target,
                    versionIndex == NO_COLUMN ? null : options.versionColumn(),
                    "item of key " + item.key() + " has a negative version " + item.version(), 0);
        }
    }

    /**
     * The columns a tombstone (a delete in the replacing mode) must carry besides the key: those the
     * partition key and the sorting key are computed from, sink columns excepted. A tombstone whose
     * values there differ from the row it deletes lands in another partition or sorts as another row,
     * and merges (and {@code FINAL}), which only collapse rows of one sorting key (within one partition),
     * then keep the deleted row visible.
     */
    int[] tombstoneColumns() {
        return tombstoneColumns;
    }

    /** {@link #tombstoneColumns()} less the columns an item's key gives. */
    int[] tombstoneColumns(int[] keyColumns) {
        return Arrays.stream(tombstoneColumns).filter(c -> Arrays.binarySearch(keyColumns, c) < 0).toArray();
    }

    /**
     * The values of {@code columns} in a delete's before-image (its {@code values}), converted; {@code
     * null} when the delete carries no image or the image lacks one of them.
     */
    Object[] image(ChangeItem delete, int[] columns) {
        if (delete.values().isEmpty() || columns.length == 0) {
            return null;
        }
        Object[] image = new Object[types.length];
        BitSet found = new BitSet(types.length);
        for (Map.Entry<String, Object> e : delete.values().entrySet()) {
            int c = column(e.getKey());
            if (c == NO_COLUMN || found.get(c) || Arrays.stream(columns).noneMatch(x -> x == c)) {
                continue;
            }
            try {
                image[c] = Values.convert(types[c], e.getValue());
            } catch (Values.ConversionException ex) {
                throw conversionError(delete, c, e.getKey(), e.getValue(), ex);
            }
            found.set(c);
        }
        for (int c : columns) {
            if (!found.get(c)) {
                return null;
            }
        }
        return image;
    }

    /**
     * The tombstone of a delete: its key, its version, the deleted flag, {@code columns} taken from
     * {@code image} (canonical values by column index, e.g. a before-image or a row read back), every
     * other column at its default.
     */
    Row tombstone(ChangeItem delete, Object[] image, int[] columns) {
        Row row = row(delete, false, true, 1);
        if (image == null || columns.length == 0) {
            return row;
        }
        Object[] values = row.values();
        BitSet missing = (BitSet) row.missing().clone();
        for (int c : columns) {
            values[c] = image[c];
            missing.clear(c);
        }
        return new Row(values, missing.isEmpty() ? EMPTY : missing);
    }

    /** How many values of fields without a column were dropped so far. */
    long ignoredValues() {
        return ignoredValues.get();
    }

    /**
     * The row an item becomes. {@code withValues} false writes the key only (a tombstone or a cancel);
     * {@code deleted} sets the deleted column; {@code sign} sets the sign column when non-zero.
     */
    Row row(ChangeItem item, boolean withValues, boolean deleted, int sign) {
        checkVersion(item);
        Object[] values = new Object[types.length];
        Arrays.fill(values, UNSET);
        keyShape = put(item, item.key(), values, keyShape); // the key first: not converted twice
        if (withValues) {
            valueShape = put(item, item.values(), values, valueShape);
        }
        BitSet missing = null;
        for (int i = 0; i < types.length; i++) {
            if (values[i] == UNSET) {
                if (columns.get(i).defaultExpression() && !isSinkColumn(i)) {
                    if (missing == null) {
                        missing = new BitSet(types.length);
                    }
                    missing.set(i);
                    values[i] = null;
                } else {
                    values[i] = zeros[i];
                }
            }
        }
        if (versionIndex != NO_COLUMN) {
            values[versionIndex] = item.version();
        }
        if (deletedIndex != NO_COLUMN) {
            values[deletedIndex] = deleted ? 1L : 0L;
        }
        if (signIndex != NO_COLUMN && sign != 0) {
            values[signIndex] = (long) sign;
        }
        return new Row(values, missing == null ? EMPTY : missing);
    }

    private static final BitSet EMPTY = new BitSet(0);
    /** Marks a value not given while a row is built. */
    private static final Object UNSET = new Object();

    /**
     * The field names of the last map seen and their columns. Items of a table nearly always carry
     * the same fields in the same order, with the very same (interned) name strings, so a row's
     * columns are found by comparing references rather than hashing. Immutable; replaced on a miss.
     */
    private record Shape(String[] fields, int[] columns) {
    }

    private volatile Shape keyShape;
    private volatile Shape valueShape;

    private Shape put(ChangeItem item, Map<String, Object> fields, Object[] values, Shape shape) {
        Filler filler = new Filler(item, values, shape != null && shape.fields().length == fields.size() ? shape : null);
        fields.forEach(filler); // no entry wrappers, unlike entrySet() of an unmodifiable map
        if (filler.shape != null) {
            return shape;
        }
        String[] names = fields.keySet().toArray(new String[0]);
        int[] indexes = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            indexes[i] = column(names[i]);
        }
        return new Shape(names, indexes);
    }

    /** Puts the converted fields of one map into a row; {@code shape} is dropped on the first miss. */
    private final class Filler implements BiConsumer<String, Object> {
        private final ChangeItem item;
        private final Object[] values;
        private Shape shape;
        private int position;

        Filler(ChangeItem item, Object[] values, Shape shape) {
            this.item = item;
            this.values = values;
            this.shape = shape;
        }

        @Override
        public void accept(String field, Object value) {
            int index;
            if (shape != null && shape.fields()[position] == field) {
                index = shape.columns()[position];
            } else {
                shape = null;
                index = column(field);
            }
            position++;
            if (index == NO_COLUMN) {
                ignoredValues.incrementAndGet();
                return;
            }
            if (values[index] != UNSET) {
                return; // given by the key
            }
            try {
                values[index] = Values.convert(types[index], value);
            } catch (Values.ConversionException ex) {
                throw conversionError(item, index, field, value, ex);
            }
        }
    }

    /** The column of a source field: same name, else {@code <field>_id} (Django foreign keys). */
    int column(String field) {
        Integer cached = fieldToColumn.get(field);
        if (cached != null) {
            return cached;
        }
        Integer index = byName.get(field);
        if (index == null) {
            index = byName.get(field + "_id");
        }
        int resolved = index == null ? NO_COLUMN : index;
        fieldToColumn.put(field, resolved);
        if (resolved == NO_COLUMN && ignoredFields.add(field)) {
            log.warn("{}: table {} (from {}) has no column for field {}; its values are ignored"
                    + " (logged once per field)", sink, target, sourceTable, field);
        }
        return resolved;
    }

    /**
     * The columns an item's key maps to, in table order (shared: never modify it). Computed once per
     * set of key fields: the replacing mode asks it of every delete of every write.
     */
    int[] keyColumns(ChangeItem item) {
        return keyLayout(item).keyColumns();
    }

    /** {@link #tombstoneColumns(int[])} of an item's {@link #keyColumns(ChangeItem)} (shared: never modify it). */
    int[] tombstoneColumns(ChangeItem item) {
        return keyLayout(item).tombstoneColumns();
    }

    private record KeyLayout(int[] keyColumns, int[] tombstoneColumns) {
    }

    /** At most this many sets of key fields are remembered; a table's items have one or a few. */
    private static final int KEY_LAYOUTS = 64;

    private final Map<Set<String>, KeyLayout> keyLayouts = new ConcurrentHashMap<>();

    private KeyLayout keyLayout(ChangeItem item) {
        Set<String> fields = item.key().keySet();
        KeyLayout layout = keyLayouts.get(fields);
        if (layout != null) {
            return layout;
        }
        List<Integer> indexes = new ArrayList<>();
        for (String field : fields) {
            int index = column(field);
            if (index == NO_COLUMN) {
                throw new ClickHouseWriteException(sink, target, field, "the key field " + field
                        + " has no column in the table", null, false, 0, 0);
            }
            indexes.add(index);
        }
        int[] keyColumns = indexes.stream().sorted().mapToInt(Integer::intValue).toArray();
        layout = new KeyLayout(keyColumns, tombstoneColumns(keyColumns));
        if (keyLayouts.size() < KEY_LAYOUTS) {
            keyLayouts.put(Set.copyOf(fields), layout);
        }
        return layout;
    }

    /**
     * The identity of a row's key, as a map key: its key columns in RowBinary, each byte one char of
     * {@link #KEY_CHARS}. The bytes themselves as chars hashed badly: {@code String.hashCode} of eight
     * little-endian bytes of an integer key, most of them zero, gave one hash to every eight keys of a
     * {@code UInt64} column (130,000 hashes for a million keys), and the collapsing mode's maps, its
     * cache of written keys above all, long collision chains; spread over 16 bits the same million keys
     * have 98 % distinct hashes. Still one char per byte, so distinct keys stay distinct.
     */
    String keyOf(Object[] values, int[] keyColumns) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(32);
        RowEncoder.RowBinaryEncoder encoder = new RowEncoder.RowBinaryEncoder(bytes, RowEncoder.SMALL_BUFFER);
        try {
            for (int k : keyColumns) {
                encoder.write(types[k], values[k]);
            }
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        byte[] raw = bytes.toByteArray();
        char[] chars = new char[raw.length];
        for (int i = 0; i < raw.length; i++) {
            chars[i] = KEY_CHARS[raw[i] & 0xff];
        }
        return new String(chars);
    }

    /** 256 distinct chars spread over 16 bits, one per byte value: a fixed table, the same in every run. */
    private static final char[] KEY_CHARS = keyChars();

    private static char[] keyChars() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(0x6b65794f66L);
        java.util.Set<Character> used = new java.util.HashSet<>();
        char[] chars = new char[256];
        for (int i = 0; i < chars.length; i++) {
            char c;
            do {
                c = (char) random.nextInt(0x100, 0xd800); // not a surrogate: every char is one code point
            } while (!used.add(c));
            chars[i] = c;
        }
        return chars;
    }

    /** Whether some column has a DEFAULT expression (then rows are converted first, to group them). */
    boolean hasDefaultExpressions() {
        for (Column c : columns) {
            if (c.defaultExpression()) {
                return true;
            }
        }
        return false;
    }

    /**
     * One insert of every column whose rows are the items themselves, converted while encoded: the
     * items are converted and encoded slice by slice (see {@link SliceEncoder}), all before the request
     * starts. Only for tables without DEFAULT expressions (every missing value is then the type's
     * default).
     */
    Insert streamed(List<ChangeItem> items) {
        return streamed(items, null);
    }

    /** {@link #streamed(List)} with the chunk columns set from {@code chunk} (when not null). */
    Insert streamed(List<ChangeItem> items, ChunkRows chunk) {
        return new Insert(allColumns(), items, chunk);
    }

    /** Every column, in order: the columns of a {@linkplain #streamed streamed} insert. */
    int[] allColumns() {
        int[] all = new int[types.length];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        return all;
    }

    /** The source table whose items this writer writes. */
    String sourceTable() {
        return sourceTable;
    }

    /** The values of row {@code i} of an insert, with the chunk columns set when it names a chunk. */
    Object[] values(Insert insert, int i) {
        Object row = insert.rows().get(i);
        Object[] values = values(row);
        ChunkRows chunk = insert.chunk();
        if (chunk != null) {
            if (values == row) {
                values = values.clone(); // rows may be shared; never mutated
            }
            values[originIndex] = chunk.origin();
            values[offsetIndex] = chunk.offset();
            values[rowIndex] = (long) chunk.firstRow() + i;
        }
        return values;
    }

    /**
     * The rows of a chunk as {@link #inserts} (grouped by missing default-expression columns, so in
     * a deterministic order: group by group, each in chunk order), less the first {@code skip} rows of
     * that order; each insert names the ordinal of its first row in that order. Rows are numbered in
     * the order they are sent, so an interrupted write leaves the rows numbered {@code [0, committed)}.
     */
    List<Insert> inserts(List<Row> rows, String origin, long offset, int skip) {
        List<Insert> out = new ArrayList<>();
        int first = 0;
        for (Insert insert : inserts(rows)) {
            int size = insert.rows().size();
            int from = Math.max(0, Math.min(size, skip - first));
            if (from < size) {
                out.add(new Insert(insert.columns(), insert.rows().subList(from, size),
                        new ChunkRows(origin, offset, first + from)));
            }
            first += size;
        }
        return out;
    }

    /** The values of a row of an {@link Insert}: converted already, or converted now from its item. */
    Object[] values(Object row) {
        if (row instanceof Object[] values) {
            return values;
        }
        ChangeItem item = (ChangeItem) row;
        boolean save = item.kind().isSave();
        return row(item, save, !save, 1).values();
    }

    /** Rows grouped into inserts: one per set of missing default-expression columns, in first-seen order. */
    List<Insert> inserts(List<Row> rows) {
        Map<BitSet, List<Object[]>> groups = new LinkedHashMap<>();
        for (Row row : rows) {
            groups.computeIfAbsent(row.missing(), k -> new ArrayList<>()).add(row.values());
        }
        List<Insert> inserts = new ArrayList<>(groups.size());
        for (Map.Entry<BitSet, List<Object[]>> g : groups.entrySet()) {
            int[] cols = new int[types.length - g.getKey().cardinality()];
            int n = 0;
            for (int i = 0; i < types.length; i++) {
                if (!g.getKey().get(i)) {
                    cols[n++] = i;
                }
            }
            inserts.add(new Insert(cols, g.getValue()));
        }
        return inserts;
    }
}
