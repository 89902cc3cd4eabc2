package dev.changepipe.verify;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Kind;
import dev.changepipe.spi.TableDigest.Shape;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The PostgreSQL side of a verify on a real server. */
@ExtendWith(PostgresServerExtension.class)
class PostgresDigestsIntegrationTest {

    private static final Duration T = Duration.ofSeconds(60);

    /** A table of more pages than the split needs: read in two block ranges, it digests as read in one. */
    @Test
    void aLargeTableDigestedInBlockRangesAtOnceGivesTheDigestsOfOneRead(PostgresServer pg) {
        String db = pg.createDatabase("digests");
        pg.execute(db, "CREATE TABLE t (id bigint PRIMARY KEY, name text, total numeric(10, 2), at timestamp); "
                + "INSERT INTO t SELECT g, repeat('x', 40) || g, g * 0.5, timestamp '2024-01-01' + g * interval '1 s' "
                + "FROM generate_series(1, 150000) g; ANALYZE t");
        assertThat(Long.parseLong(pg.execute(db, "SELECT relpages FROM pg_class WHERE relname = 't'").trim()))
                .as("pages").isGreaterThan(1000);
        PostgresDigests digests = new PostgresDigests(pg.r2dbcUrl(db), "t");
        Map<String, String> types = digests.columns().block(T);
        Column id = new Column("id", Kind.INTEGER, 0, null, false);
        Shape shape = new Shape(id, List.of(id, new Column("name", Kind.STRING, 0, null, true),
                new Column("total", Kind.DECIMAL, 2, null, true), new Column("at", Kind.DATETIME, 0, "UTC", true)),
                97, true);

        Map<Integer, Digest> one = digests.buckets(shape, types, 1).block(T);
        Map<Integer, Digest> split = digests.buckets(shape, types, 3).block(T);

        assertThat(one).hasSize(97);
        assertThat(one.values().stream().mapToLong(Digest::count).sum()).isEqualTo(150_000);
        assertThat(split).isEqualTo(one);
    }

    /**
     * The rows copied out and hashed in this JVM digest as the server digests them itself: texts with
     * the characters COPY escapes in its text form (tab, newline, backslash), the separator, non-ASCII
     * text and NULLs; a text key (its bucket found here from the key's text) and an integer key.
     */
    @Test
    void rowsCopiedAndHashedHereDigestAsTheServerDigestsThem(PostgresServer pg) {
        String db = pg.createDatabase("copied");
        pg.execute(db, "CREATE TABLE k (code text PRIMARY KEY, id bigint, name text, total numeric(10, 2), at timestamp); "
                + "INSERT INTO k SELECT 'c' || g || E'\\t\u00e9', g, CASE WHEN g % 7 = 0 THEN NULL "
                + "ELSE E'a\\tb\\nc\\\\d' || chr(31) || 'ü€' || g END, g * 0.25, timestamp '2024-01-01' + g * interval '1 s' "
                + "FROM generate_series(1, 3000) g; ANALYZE k");
        assertThat(CopyDigests.of(pg.r2dbcUrl(db))).as("the test server's URL is copied from").isNotNull();
        PostgresDigests copied = new PostgresDigests(pg.r2dbcUrl(db), "k");
        PostgresDigests server = copied.hashedInTheServer();
        Map<String, String> types = copied.columns().block(T);
        Column code = new Column("code", Kind.STRING, 0, null, false);
        Column id = new Column("id", Kind.INTEGER, 0, null, false);
        List<Column> columns = List.of(code, id, new Column("name", Kind.STRING, 0, null, true),
                new Column("total", Kind.DECIMAL, 2, null, true), new Column("at", Kind.DATETIME, 0, "UTC", true));

        for (Shape shape : List.of(new Shape(code, columns, 53, false), new Shape(id, columns, 53, true))) {
            Map<Integer, Digest> here = copied.buckets(shape, types, 1).block(T);
            assertThat(here).as("buckets of %s", shape.key().name()).hasSize(53).isEqualTo(server.buckets(shape, types, 1).block(T));
            assertThat(here.values().stream().mapToLong(Digest::count).sum()).isEqualTo(3000);
        }
    }

    /** An R2DBC URL's credentials and SSL options reach JDBC; an option it cannot translate keeps the digest in the server. */
    @Test
    void urlsTranslateToJdbcOrKeepTheDigestInTheServer() {
        assertThat(CopyDigests.of("r2dbc:postgresql://app:s%40cret+x@db.internal:5433/shop?sslMode=VERIFY_FULL")).isNotNull();
        assertThat(CopyDigests.of("r2dbc:postgresql://db.internal/shop")).isNotNull();
        assertThat(CopyDigests.of("r2dbc:postgresql://db.internal/shop?lockWaitTimeout=5s")).isNull();
        assertThat(CopyDigests.of("r2dbc:pool:postgresql://db.internal/shop")).isNull();
    }
}
