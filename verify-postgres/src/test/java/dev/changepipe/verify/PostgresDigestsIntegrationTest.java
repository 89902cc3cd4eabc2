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
}
