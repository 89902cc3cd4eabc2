package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.ChangeItem;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.math.BigDecimal;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * Converts the items of a {@linkplain TableWriter#streamed streamed} insert straight into RowBinary,
 * into one growing array: no row array, no boxed value, no {@code Row} per item, unlike
 * {@link TableWriter#row} followed by {@link RowEncoder}, whose results it reproduces byte for byte.
 *
 * <p>Per item, each map ({@code key()} then {@code values()}) is walked once; a field's column comes
 * from the plan of the last map seen (its field names, compared by reference first, then by value for
 * names that are not shared instances, and their columns), rebuilt when a map has other fields. The raw values are then converted and written in column order:
 * the common cases (a {@code Long} for an integer or DateTime column, a {@code String} for a String
 * column, a {@code BigDecimal} for a Decimal up to 18 digits) without allocating, everything else
 * through {@link Values#convert} and {@link RowEncoder.RowBinaryEncoder}. A missing value is written
 * as the column type's default. Not thread-safe: one per slice.
 */
final class ItemEncoder {

    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);

    private final TableWriter table;
    private final ColumnType[] types;
    private final int versionIndex;
    private final int deletedIndex;
    private final int signIndex;
    private final int originIndex;
    private final int offsetIndex;
    private final int rowIndex;
    /** The chunk of the rows being encoded, or {@code null}; {@link #ordinal} the current row's. */
    private TableWriter.ChunkRows chunk;
    private long ordinal;
    /** Each column's default, encoded. */
    private final byte[][] zeros;
    /** The current row's raw values and their fields; a column is given when {@code givenIn[c] == row}. */
    private final Object[] raw;
    private final String[] rawField;
    private final int[] givenIn;
    private final Filler filler = new Filler();
    private Plan keyPlan;
    private Plan valuePlan;
    private int row;
    private long ignored;
    private byte[] buf;
    private int pos;
    /** Writes what the fast paths do not cover, appending to {@link #buf}. */
    private final RowEncoder.RowBinaryEncoder fallback = new RowEncoder.RowBinaryEncoder(new Appender());

    ItemEncoder(TableWriter table, int expectedRows) {
        this.table = table;
        this.types = table.types();
        this.versionIndex = table.versionIndex();
        this.deletedIndex = table.deletedIndex();
        this.signIndex = table.signIndex();
        this.originIndex = table.originIndex();
        this.offsetIndex = table.offsetIndex();
        this.rowIndex = table.rowIndex();
        int n = types.length;
        this.raw = new Object[n];
        this.rawField = new String[n];
        this.givenIn = new int[n];
        Arrays.fill(givenIn, -1);
        this.buf = new byte[Math.max(1024, expectedRows * 48)];
        this.zeros = new byte[n][];
        for (int c = 0; c < n; c++) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            RowEncoder.RowBinaryEncoder encoder = new RowEncoder.RowBinaryEncoder(bytes, RowEncoder.SMALL_BUFFER);
            try {
                encoder.write(types[c], table.zero(c));
                encoder.flush();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            zeros[c] = bytes.toByteArray();
        }
    }

    /** The field names of a map and their columns ({@link TableWriter#NO_COLUMN} for none). */
    private record Plan(String[] fields, int[] columns) {
    }

    /** Encodes {@code items[from, to)}: a save with its values, a delete as a tombstone of its key. */
    byte[] encode(List<?> items, int from, int to) {
        return encode(items, from, to, null);
    }

    /**
     * As {@link #encode(List, int, int)}; when {@code chunk} is given, the chunk columns take its
     * origin and offset and each row its ordinal ({@code chunk.firstRow()} + its index in {@code items}).
     */
    byte[] encode(List<?> items, int from, int to, TableWriter.ChunkRows chunk) {
        this.chunk = chunk;
        try {
            for (int i = from; i < to; i++) {
                ordinal = chunk == null ? 0 : (long) chunk.firstRow() + i;
                encode((ChangeItem) items.get(i));
            }
        } finally {
            table.countIgnored(ignored);
            ignored = 0;
        }
        return Arrays.copyOf(buf, pos);
    }

    private void encode(ChangeItem item) {
        table.checkVersion(item);
        row++;
        boolean save = item.kind().isSave();
        keyPlan = fill(item, item.key(), keyPlan);
        if (save) {
            valuePlan = fill(item, item.values(), valuePlan);
        }
        for (int c = 0; c < types.length; c++) {
            boolean given = givenIn[c] == row;
            Object value = raw[c];
            raw[c] = null; // hold no reference to the item after this row
            if (chunk != null && (c == originIndex || c == offsetIndex || c == rowIndex)) {
                if (given) {
                    convert(item, c, value); // converted (and rejected) as before, then overridden
                }
                if (c == originIndex) {
                    writeString(chunk.origin());
                } else {
                    ensure(8);
                    putFixed(c == offsetIndex ? chunk.offset() : ordinal, types[c].bytes(), c);
                }
            } else if (c == versionIndex || c == deletedIndex || c == signIndex) {
                if (given) {
                    convert(item, c, value); // converted (and rejected) as before, then overridden
                }
                long v = c == versionIndex ? item.version() : c == deletedIndex ? (save ? 0 : 1) : 1;
                ColumnType.Kind kind = types[c].kind();
                if (kind == ColumnType.Kind.UINT || kind == ColumnType.Kind.INT || kind == ColumnType.Kind.BOOL) {
                    ensure(8);
                    putFixed(v, types[c].bytes(), c);
                } else {
                    writeCanonical(types[c], v);
                }
            } else if (!given) {
                byte[] zero = zeros[c];
                ensure(zero.length);
                System.arraycopy(zero, 0, buf, pos, zero.length);
                pos += zero.length;
            } else {
                write(item, c, value);
            }
        }
    }

    /** Puts the raw values of a map into the row; returns the plan of the map. */
    private Plan fill(ChangeItem item, Map<String, Object> fields, Plan plan) {
        Filler f = filler;
        f.plan = plan != null && plan.fields().length == fields.size() ? plan : null;
        f.position = 0;
        fields.forEach(f); // no entry wrappers, unlike entrySet() of an unmodifiable map
        if (f.plan != null) {
            return plan;
        }
        String[] names = fields.keySet().toArray(new String[0]);
        int[] columns = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            columns[i] = table.column(names[i]);
        }
        return new Plan(names, columns);
    }

    private final class Filler implements BiConsumer<String, Object> {
        private Plan plan;
        private int position;

        @Override
        public void accept(String field, Object value) {
            int c;
            String planned = plan == null ? null : plan.fields()[position];
            if (planned == field || (planned != null && planned.equals(field))) {
                c = plan.columns()[position];
            } else {
                plan = null;
                c = table.column(field);
            }
            position++;
            if (c == TableWriter.NO_COLUMN) {
                ignored++;
                return;
            }
            if (givenIn[c] == row) {
                return; // given by the key, or by an earlier field of the same column
            }
            givenIn[c] = row;
            raw[c] = value;
            rawField[c] = field;
        }
    }

    private Object convert(ChangeItem item, int c, Object value) {
        try {
            return Values.convert(types[c], value);
        } catch (Values.ConversionException ex) {
            throw table.conversionError(item, c, rawField[c], value, ex);
        }
    }

    /** Converts and writes one given value. */
    private void write(ChangeItem item, int c, Object value) {
        ColumnType type = types[c];
        switch (type.kind()) {
            case UINT:
                if (value instanceof Long l && l >= 0 && (type.bytes() == 8 || l < 1L << (type.bytes() * 8))) {
                    ensure(8);
                    putFixed(l, type.bytes(), c);
                    return;
                }
                break;
            case INT:
                if (value instanceof Long l && (type.bytes() == 8
                        || (l >= -(1L << (type.bytes() * 8 - 1)) && l < 1L << (type.bytes() * 8 - 1)))) {
                    ensure(8);
                    putFixed(l, type.bytes(), c);
                    return;
                }
                break;
            case DATETIME:
                if (value instanceof Long l && l >= 0 && l <= 0xFFFF_FFFFL) {
                    ensure(4);
                    INT.set(buf, pos, (int) (long) l);
                    pos += 4;
                    return;
                }
                break;
            case DECIMAL:
                if (type.bytes() <= 8 && value instanceof BigDecimal d) {
                    long unscaled = Values.fastDecimal(d, type);
                    if (unscaled != Long.MIN_VALUE) {
                        ensure(8);
                        putFixed(unscaled, type.bytes(), c);
                        return;
                    }
                }
                break;
            case STRING:
                if (value instanceof String s) {
                    writeString(s);
                    return;
                }
                break;
            default:
                break;
        }
        writeCanonical(type, convert(item, c, value));
    }

    /** Writes a value already converted (see {@link Values}) with the general encoder. */
    private void writeCanonical(ColumnType type, Object canonical) {
        try {
            fallback.write(type, canonical);
            fallback.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // the appender does not throw
        }
    }

    /** A little-endian integer of 1, 2, 4 or 8 bytes; room for 8 ensured. */
    private void putFixed(long v, int bytes, int c) {
        switch (bytes) {
            case 8: LONG.set(buf, pos, v); break;
            case 4: INT.set(buf, pos, (int) v); break;
            case 2: SHORT.set(buf, pos, (short) v); break;
            case 1: buf[pos] = (byte) v; break;
            default: throw new IllegalStateException("not a fixed-width column: " + types[c]);
        }
        pos += bytes;
    }

    /** A String as varint length and UTF-8 (ASCII copied straight into the buffer). */
    @SuppressWarnings("deprecation") // String.getBytes(int, int, byte[], int): exactly right for ASCII
    private void writeString(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            if (s.charAt(i) >= 0x80) {
                byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                ensure(10 + b.length);
                putVarint(b.length);
                System.arraycopy(b, 0, buf, pos, b.length);
                pos += b.length;
                return;
            }
        }
        ensure(10 + n);
        putVarint(n);
        s.getBytes(0, n, buf, pos);
        pos += n;
    }

    private void putVarint(long v) {
        while ((v & ~0x7FL) != 0) {
            buf[pos++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        buf[pos++] = (byte) v;
    }

    private void ensure(int bytes) {
        if (buf.length - pos < bytes) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + bytes));
        }
    }

    /** The fallback encoder's stream: appends to the buffer. */
    private final class Appender extends OutputStream {
        @Override
        public void write(int b) {
            ensure(1);
            buf[pos++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            ensure(len);
            System.arraycopy(b, off, buf, pos, len);
            pos += len;
        }
    }
}
