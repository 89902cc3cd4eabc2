package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.copy.PGCopyInputStream;

/**
 * A table's bucket digests hashed in this JVM: PostgreSQL builds each row's canonical text and sends
 * it with {@code COPY (SELECT ...) TO STDOUT (FORMAT binary)} (through JDBC: R2DBC has no {@code COPY} out),
 * and the rows are hashed here as {@link Digest#hash} defines. PostgreSQL 15's {@code md5()} costs about
 * 0.9 µs a call (OpenSSL 3 sets a context up for every call), more than building the row's text, so a
 * digest computed in the server spent most of its time there; {@link MessageDigest} takes about 0.2 µs.
 */
final class CopyDigests {

    /** The R2DBC URL options that have a JDBC property (its name); a URL with any other option is not copied. */
    private static final Map<String, String> OPTIONS = Map.of("sslMode", "sslmode", "sslRootCert", "sslrootcert",
            "sslCert", "sslcert", "sslKey", "sslkey", "sslPassword", "sslpassword", "applicationName",
            "ApplicationName", "schema", "currentSchema");
    private static final byte[] SIGNATURE = "PGCOPY\n\377\r\n\0".getBytes(StandardCharsets.ISO_8859_1);

    private final String url;
    private final Properties properties;

    private CopyDigests(String url, Properties properties) {
        this.url = url;
        this.properties = properties;
    }

    /**
     * The JDBC side of an {@code r2dbc:postgresql://user:password@host:port/database?options} URL, or
     * null when it has a form or an option this does not translate (the digest then runs in the server).
     */
    static CopyDigests of(String r2dbcUrl) {
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("r2dbc:postgresql://(?:([^:@/]*)(?::([^@/]*))?@)?([^/?:]+|\\[[^\\]]+\\])(?::(\\d+))?/([^?]+)(?:\\?(.*))?")
                .matcher(r2dbcUrl);
        if (!m.matches()) {
            return null;
        }
        Properties p = new Properties();
        if (m.group(1) != null) {
            p.setProperty("user", decode(m.group(1)));
        }
        if (m.group(2) != null) {
            p.setProperty("password", decode(m.group(2)));
        }
        if (m.group(6) != null) {
            for (String pair : m.group(6).split("&")) {
                int eq = pair.indexOf('=');
                String key = decode(eq < 0 ? pair : pair.substring(0, eq));
                String jdbc = OPTIONS.get(key);
                if (jdbc == null || eq < 0) {
                    return null;
                }
                String value = decode(pair.substring(eq + 1));
                p.setProperty(jdbc, key.equals("sslMode") ? value.toLowerCase(java.util.Locale.ROOT).replace('_', '-') : value);
            }
        }
        p.setProperty("ApplicationName", p.getProperty("ApplicationName", "changepipe-verify"));
        return new CopyDigests("jdbc:postgresql://" + m.group(3) + (m.group(4) == null ? "" : ":" + m.group(4)) + "/"
                + m.group(5), p);
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /**
     * The digest of every bucket the rows of {@code select} fall in: a query of two columns, the bucket
     * ({@code int4}) when the shape has {@link Shape#integerBuckets}, else the key's canonical text, then
     * the row's canonical text. Blocking; closing the connection from another thread ends it.
     */
    Map<Integer, Digest> digest(Shape shape, String select, java.util.function.Consumer<AutoCloseable> onOpen)
            throws SQLException, IOException {
        long[] counts = new long[shape.buckets()];
        long[] sums = new long[shape.buckets()];
        MessageDigest md5 = md5();
        byte[] hash = new byte[16];
        try (Connection c = new org.postgresql.Driver().connect(url, properties)) {
            onOpen.accept(c);
            // a read-only transaction: nothing written, and one snapshot for the whole read
            c.setAutoCommit(false);
            c.setReadOnly(true);
            PGConnection pg = c.unwrap(PGConnection.class);
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(
                    new PGCopyInputStream(pg, "COPY (" + select + ") TO STDOUT (FORMAT binary)"), 1 << 16))) {
                header(in);
                byte[] text = new byte[256];
                while (true) {
                    short fields = in.readShort();
                    if (fields == -1) {
                        break;
                    }
                    if (fields != 2) {
                        throw new IOException("COPY sent a row of " + fields + " field(s), expected 2");
                    }
                    int bucket;
                    int length = in.readInt();
                    if (shape.integerBuckets()) {
                        bucket = in.readInt();
                    } else {
                        text = read(in, length, text);
                        bucket = Digest.bucket(shape, new String(text, 0, length, StandardCharsets.UTF_8));
                    }
                    length = in.readInt();
                    text = read(in, length, text);
                    md5.update(text, 0, length);
                    md5.digest(hash, 0, 16);
                    long h = 0;
                    for (int i = 0; i < 8; i++) {
                        h = h << 8 | hash[i] & 0xff;
                    }
                    counts[bucket]++;
                    sums[bucket] += h;
                }
            } catch (java.security.DigestException e) {
                throw new IllegalStateException(e);
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

    private static void header(DataInputStream in) throws IOException {
        byte[] signature = new byte[SIGNATURE.length];
        in.readFully(signature);
        if (!java.util.Arrays.equals(signature, SIGNATURE)) {
            throw new IOException("COPY sent no binary header");
        }
        in.readInt(); // flags
        in.skipNBytes(in.readInt()); // the header extension
    }

    /** {@code length} bytes into {@code buffer}, or a larger one; a NULL (-1) is refused (the texts are never null). */
    private static byte[] read(DataInputStream in, int length, byte[] buffer) throws IOException {
        if (length < 0) {
            throw new EOFException("COPY sent NULL for a canonical text");
        }
        byte[] b = length <= buffer.length ? buffer : new byte[Math.max(length, buffer.length * 2)];
        in.readFully(b, 0, length);
        return b;
    }

    private static MessageDigest md5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is missing from this JVM", e);
        }
    }
}
