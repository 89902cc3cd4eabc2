package dev.changepipe.spi;

/**
 * A positive number of bytes, as a configuration writes it: {@code 64MiB}, {@code 512KiB},
 * {@code 1GiB} (also {@code KB}, {@code MB}, {@code GB} as powers of 1024) or plain bytes.
 */
public record DataSize(long bytes) {

    public DataSize {
        if (bytes <= 0) {
            throw new IllegalArgumentException("a size is positive, got " + bytes);
        }
    }

    public static DataSize ofBytes(long bytes) {
        return new DataSize(bytes);
    }

    public static DataSize ofMebibytes(long mebibytes) {
        return new DataSize(mebibytes << 20);
    }

    /** The bytes as an {@code int}, at most {@code max}. */
    public int bytesAtMost(int max) {
        return (int) Math.min(max, bytes);
    }

    /** As a configuration would write it: {@code 64MiB}, {@code 1536KiB}, {@code 1000}. */
    @Override
    public String toString() {
        String[] units = {"TiB", "GiB", "MiB", "KiB"};
        int[] shifts = {40, 30, 20, 10};
        for (int i = 0; i < units.length; i++) {
            long unit = 1L << shifts[i];
            if (bytes % unit == 0) {
                return (bytes / unit) + units[i];
            }
        }
        return Long.toString(bytes);
    }
}
