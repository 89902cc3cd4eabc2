package dev.changepipe.sink.clickhouse;

import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.List;
import java.util.UUID;

/**
 * Writes rows of canonical values (see {@link Values}) in one of the insert formats, straight into
 * the HTTP request body through a small buffer: a batch is never built as one String or array.
 * Not thread-safe; one encoder per insert.
 */
abstract class RowEncoder {

    private static final int BUFFER = 64 * 1024;

    /** A buffer for one key or one value: enough for the widest fixed-size value (16 bytes). */
    static final int SMALL_BUFFER = 64;

    private final OutputStream out;
    private final byte[] buf;
    private int pos;

    RowEncoder(OutputStream out, int bufferSize) {
        this.out = out;
        this.buf = new byte[bufferSize];
    }

    /** An encoder for {@code format} writing into {@code out}. */
    static RowEncoder of(InsertFormat format, OutputStream out) {
        return format == InsertFormat.ROW_BINARY ? new RowBinaryEncoder(out) : new TabSeparatedEncoder(out);
    }

    /** Writes one row: the values at {@code columns}, {@code values[i]} being of {@code types[i]}. */
    abstract void writeRow(ColumnType[] types, Object[] values, int[] columns) throws IOException;

    /** Writes what is buffered to the stream (the caller closes the stream). */
    final void flush() throws IOException {
        if (pos > 0) {
            out.write(buf, 0, pos);
            pos = 0;
        }
        out.flush();
    }

    final void writeByte(int b) throws IOException {
        if (pos == buf.length) {
            out.write(buf, 0, pos);
            pos = 0;
        }
        buf[pos++] = (byte) b;
    }

    final void writeLittleEndian(long v, int bytes) throws IOException {
        if (buf.length - pos < bytes) {
            out.write(buf, 0, pos);
            pos = 0;
        }
        for (int i = 0; i < bytes; i++) {
            buf[pos++] = (byte) (v >>> (8 * i));
        }
    }

    final void writeBytes(byte[] b) throws IOException {
        if (b.length > buf.length - pos) {
            out.write(buf, 0, pos);
            pos = 0;
            if (b.length > buf.length / 2) {
                out.write(b);
                return;
            }
        }
        System.arraycopy(b, 0, buf, pos, b.length);
        pos += b.length;
    }

    @SuppressWarnings("deprecation") // String.getBytes(int, int, byte[], int): exactly right for ASCII
    final void writeAscii(String s) throws IOException {
        int n = s.length();
        if (buf.length - pos < n) {
            if (pos > 0) {
                out.write(buf, 0, pos);
                pos = 0;
            }
            if (n > buf.length) {
                out.write(s.getBytes(StandardCharsets.ISO_8859_1));
                return;
            }
        }
        s.getBytes(0, n, buf, pos); // ASCII only: the deprecated method is exactly right and fast
        pos += n;
    }

    /** RowBinary: little-endian numbers, varint-prefixed strings, a null flag before Nullable values. */
    static final class RowBinaryEncoder extends RowEncoder {

        RowBinaryEncoder(OutputStream out) {
            this(out, BUFFER);
        }

        /**
         * An encoder with a buffer of {@code bufferSize} bytes (at least 16): {@link #SMALL_BUFFER} for
         * one key or value, where a 64 KiB buffer per call would cost more than the encoding.
         */
        RowBinaryEncoder(OutputStream out, int bufferSize) {
            super(out, bufferSize);
        }

        @Override
        void writeRow(ColumnType[] types, Object[] values, int[] columns) throws IOException {
            for (int c : columns) {
                write(types[c], values[c]);
            }
        }

        void write(ColumnType type, Object v) throws IOException {
            switch (type.kind()) {
                case INT: case UINT: case BOOL: case DATE: case DATETIME: case DATETIME64:
                    writeLittleEndian((Long) v, type.bytes());
                    break;
                case FLOAT32:
                    writeLittleEndian(Float.floatToRawIntBits(((Double) v).floatValue()), 4);
                    break;
                case FLOAT64:
                    writeLittleEndian(Double.doubleToRawLongBits((Double) v), 8);
                    break;
                case DECIMAL: {
                    if (type.bytes() <= 8) {
                        writeLittleEndian((Long) v, type.bytes());
                    } else {
                        BigInteger unscaled = (BigInteger) v;
                        writeLittleEndian(unscaled.longValue(), 8);
                        writeLittleEndian(unscaled.shiftRight(64).longValue(), 8);
                    }
                    break;
                }
                case STRING: {
                    if (v instanceof String s) {
                        writeUtf8WithLength(s);
                    } else {
                        byte[] b = (byte[]) v;
                        writeVarint(b.length);
                        writeBytes(b);
                    }
                    break;
                }
                case FIXED_STRING: {
                    byte[] b = (byte[]) v;
                    writeBytes(b);
                    for (int i = b.length; i < type.bytes(); i++) {
                        writeByte(0);
                    }
                    break;
                }
                case UUID: {
                    UUID u = (UUID) v;
                    writeLittleEndian(u.getMostSignificantBits(), 8);
                    writeLittleEndian(u.getLeastSignificantBits(), 8);
                    break;
                }
                case NULLABLE:
                    if (v == null) {
                        writeByte(1);
                    } else {
                        writeByte(0);
                        write(type.element(), v);
                    }
                    break;
                case ARRAY: {
                    List<?> list = (List<?>) v;
                    writeVarint(list.size());
                    for (Object e : list) {
                        write(type.element(), e);
                    }
                    break;
                }
                default:
                    throw new IllegalStateException("not writable: " + type);
            }
        }

        /** A String as varint length and UTF-8, encoded straight into the buffer (no byte[] per value). */
        private void writeUtf8WithLength(String s) throws IOException {
            int n = s.length();
            int ascii = 0;
            while (ascii < n && s.charAt(ascii) < 0x80) {
                ascii++;
            }
            if (ascii < n) {
                byte[] b = s.getBytes(StandardCharsets.UTF_8);
                writeVarint(b.length);
                writeBytes(b);
                return;
            }
            writeVarint(n);
            writeAscii(s);
        }

        private void writeVarint(long v) throws IOException {
            while ((v & ~0x7FL) != 0) {
                writeByte((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            writeByte((int) v);
        }
    }

    /**
     * TabSeparated: text values, {@code \N} for null, strings escaped (backslash, tab, newline, NUL...),
     * DateTime as unix seconds (parsed the same on every server, whatever its time zone).
     */
    static final class TabSeparatedEncoder extends RowEncoder {

        TabSeparatedEncoder(OutputStream out) {
            super(out, BUFFER);
        }

        @Override
        void writeRow(ColumnType[] types, Object[] values, int[] columns) throws IOException {
            for (int i = 0; i < columns.length; i++) {
                if (i > 0) {
                    writeByte('\t');
                }
                write(types[columns[i]], values[columns[i]], false);
            }
            writeByte('\n');
        }

        private void write(ColumnType type, Object v, boolean quoted) throws IOException {
            switch (type.kind()) {
                case INT: case BOOL: case DATETIME:
                    writeAscii(Long.toString((Long) v));
                    break;
                case UINT:
                    writeAscii(Long.toUnsignedString((Long) v));
                    break;
                case DATETIME64: {
                    long ticks = (Long) v;
                    writeAscii(new java.math.BigDecimal(BigInteger.valueOf(ticks), type.scale()).toPlainString());
                    break;
                }
                case FLOAT32: case FLOAT64: {
                    double d = (Double) v;
                    writeAscii(Double.isNaN(d) ? "nan" : Double.isInfinite(d) ? (d > 0 ? "inf" : "-inf")
                            : type.kind() == ColumnType.Kind.FLOAT32 ? Float.toString((float) d) : Double.toString(d));
                    break;
                }
                case DECIMAL:
                    writeAscii((v instanceof Long l ? java.math.BigDecimal.valueOf(l, type.scale())
                            : new java.math.BigDecimal((BigInteger) v, type.scale())).toPlainString());
                    break;
                case STRING: case FIXED_STRING:
                    writeString(v instanceof String s ? s.getBytes(StandardCharsets.UTF_8) : (byte[]) v, quoted);
                    break;
                case UUID:
                    writeQuotedAscii(v.toString(), quoted);
                    break;
                case DATE:
                    writeQuotedAscii(LocalDate.ofEpochDay((Long) v).toString(), quoted);
                    break;
                case NULLABLE:
                    if (v == null) {
                        writeAscii(quoted ? "NULL" : "\\N");
                    } else {
                        write(type.element(), v, quoted);
                    }
                    break;
                case ARRAY: {
                    writeByte('[');
                    boolean first = true;
                    for (Object e : (List<?>) v) {
                        if (!first) {
                            writeByte(',');
                        }
                        first = false;
                        write(type.element(), e, true);
                    }
                    writeByte(']');
                    break;
                }
                default:
                    throw new IllegalStateException("not writable: " + type);
            }
        }

        private void writeQuotedAscii(String s, boolean quoted) throws IOException {
            if (quoted) {
                writeByte('\'');
            }
            writeAscii(s);
            if (quoted) {
                writeByte('\'');
            }
        }

        private void writeString(byte[] b, boolean quoted) throws IOException {
            if (quoted) {
                writeByte('\'');
            }
            for (byte x : b) {
                switch (x) {
                    case '\\': writeByte('\\'); writeByte('\\'); break;
                    case '\t': writeByte('\\'); writeByte('t'); break;
                    case '\n': writeByte('\\'); writeByte('n'); break;
                    case '\r': writeByte('\\'); writeByte('r'); break;
                    case 0: writeByte('\\'); writeByte('0'); break;
                    case '\b': writeByte('\\'); writeByte('b'); break;
                    case '\f': writeByte('\\'); writeByte('f'); break;
                    case '\'': writeByte('\\'); writeByte('\''); break;
                    default: writeByte(x);
                }
            }
            if (quoted) {
                writeByte('\'');
            }
        }
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
