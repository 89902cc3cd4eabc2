package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A table's bucket digests hashed in this JVM: PostgreSQL builds each row's canonical text and sends
 * it through {@link PostgresCopy}, and the rows are hashed here as {@link Digest#hash} defines.
 * PostgreSQL 15's {@code md5()} costs about 0.9 µs a call (OpenSSL 3 sets a context up for every call),
 * more than building the row's text, so a digest computed in the server spent most of its time there;
 * Java's MD5 takes about 0.2 µs.
 */
final class CopyDigests {

    private final PostgresCopy copy;

    private CopyDigests(PostgresCopy copy) {
        this.copy = copy;
    }

    /** The digests of an R2DBC URL's database, or null when its URL cannot be copied from ({@link PostgresCopy#of}). */
    static CopyDigests of(String r2dbcUrl) {
        PostgresCopy copy = PostgresCopy.of(r2dbcUrl);
        return copy == null ? null : new CopyDigests(copy);
    }

    /**
     * The digest of every bucket the rows of {@code select} fall in: a query of two columns, the bucket
     * ({@code int4}) when the shape has {@link Shape#integerBuckets}, else the key's canonical text, then
     * the row's canonical text. Blocking; {@code onOpen} is given the connection, whose closing from
     * another thread ends the read.
     */
    Map<Integer, Digest> digest(Shape shape, String select, Consumer<AutoCloseable> onOpen) throws SQLException, IOException {
        long[] counts = new long[shape.buckets()];
        long[] sums = new long[shape.buckets()];
        try (Connection c = copy.connect()) {
            onOpen.accept(c);
            // a read-only transaction: nothing written, and one snapshot for the whole read
            c.setAutoCommit(false);
            c.setReadOnly(true);
            try (PostgresCopy.Rows rows = PostgresCopy.rows(c, select)) {
                for (int fields = rows.next(); fields != -1; fields = rows.next()) {
                    if (fields != 2) {
                        throw new IOException("COPY sent a row of " + fields + " field(s), expected 2");
                    }
                    int bucket = shape.integerBuckets() ? rows.int4() : Digest.bucket(shape, text(rows));
                    if (!rows.bytes()) {
                        throw new IOException("COPY sent NULL for a row's canonical text");
                    }
                    counts[bucket]++;
                    sums[bucket] += Digest.hash(rows.buffer(), rows.offset(), rows.length());
                }
            }
            c.commit();
        }
        Map<Integer, Digest> out = new HashMap<>();
        for (int b = 0; b < counts.length; b++) {
            if (counts[b] > 0) {
                out.put(b, Digest.of(counts[b], sums[b]));
            }
        }
        return out;
    }

    private static String text(PostgresCopy.Rows rows) throws IOException {
        String text = rows.text();
        if (text == null) {
            throw new IOException("COPY sent NULL for a key's canonical text");
        }
        return text;
    }
}
