package dev.changepipe.sink.clickhouse;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Reads rows in RowBinary into canonical values (see {@link Values}): how the collapsing mode reads
 * back the current row of a key to cancel it exactly. Not thread-safe.
 */
final class RowBinaryReader {

    private final InputStream in;
    private final byte[] eight = new byte[8];

    RowBinaryReader(InputStream in) {
        this.in = in;
    }

    /** The next row, or {@code null} at the end of the stream. */
    Object[] readRow(ColumnType[] types) throws IOException {
        int first = in.read();
        if (first < 0) {
            return null;
        }
        Object[] row = new Object[types.length];
        for (int i = 0; i < types.length; i++) {
            row[i] = read(types[i], i == 0 ? first : -1);
        }
        return row;
    }

    private Object read(ColumnType type, int firstByte) throws IOException {
        switch (type.kind()) {
            case INT: return signExtend(readLittleEndian(type.bytes(), firstByte), type.bytes());
            case UINT: case BOOL: case DATE: case DATETIME:
                return readLittleEndian(type.bytes(), firstByte);
            case DATETIME64: return readLittleEndian(8, firstByte);
            case FLOAT32: return (double) Float.intBitsToFloat((int) readLittleEndian(4, firstByte));
            case FLOAT64: return Double.longBitsToDouble(readLittleEndian(8, firstByte));
            case DECIMAL: {
                if (type.bytes() <= 8) {
                    return signExtend(readLittleEndian(type.bytes(), firstByte), type.bytes());
                }
                long low = readLittleEndian(8, firstByte);
                long high = readLittleEndian(8, -1);
                return BigInteger.valueOf(high).shiftLeft(64).add(new BigInteger(Long.toUnsignedString(low)));
            }
            case STRING: {
                int length = (int) readVarint(firstByte);
                return readN(length);
            }
            case FIXED_STRING: {
                byte[] b = new byte[type.bytes()];
                int start = 0;
                if (firstByte >= 0) {
                    b[0] = (byte) firstByte;
                    start = 1;
                }
                readFully(b, start, b.length - start);
                int end = b.length;
                while (end > 0 && b[end - 1] == 0) {
                    end--;
                }
                return java.util.Arrays.copyOf(b, end);
            }
            case UUID: {
                long high = readLittleEndian(8, firstByte);
                long low = readLittleEndian(8, -1);
                return new UUID(high, low);
            }
            case NULLABLE: {
                int flag = firstByte >= 0 ? firstByte : readByte();
                return flag != 0 ? null : read(type.element(), -1);
            }
            case ARRAY: {
                long n = readVarint(firstByte);
                List<Object> list = new ArrayList<>((int) Math.min(n, 1024));
                for (long i = 0; i < n; i++) {
                    list.add(read(type.element(), -1));
                }
                return list;
            }
            default:
                throw new IllegalStateException("not readable: " + type);
        }
    }

    private static long signExtend(long v, int bytes) {
        int shift = 64 - 8 * bytes;
        return (v << shift) >> shift;
    }

    private long readLittleEndian(int bytes, int firstByte) throws IOException {
        int start = 0;
        if (firstByte >= 0) {
            eight[0] = (byte) firstByte;
            start = 1;
        }
        readFully(eight, start, bytes - start);
        long v = 0;
        for (int i = 0; i < bytes; i++) {
            v |= (eight[i] & 0xFFL) << (8 * i);
        }
        return v;
    }

    private long readVarint(int firstByte) throws IOException {
        long v = 0;
        int shift = 0;
        int b = firstByte >= 0 ? firstByte : readByte();
        while (true) {
            v |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
            shift += 7;
            b = readByte();
        }
    }

    private int readByte() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("RowBinary ended in the middle of a row");
        }
        return b;
    }

    private byte[] readN(int n) throws IOException {
        byte[] b = new byte[n];
        readFully(b, 0, n);
        return b;
    }

    private void readFully(byte[] b, int off, int len) throws IOException {
        int done = 0;
        while (done < len) {
            int r = in.read(b, off + done, len - done);
            if (r < 0) {
                throw new EOFException("RowBinary ended in the middle of a row");
            }
            done += r;
        }
    }
}
