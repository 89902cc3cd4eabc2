package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.delete;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Chunk;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/** The three write modes against a real ClickHouse: final state, replays, delete then re-insert. */
@ExtendWith(ClickHouseServerExtension.class)
class ClickHouseSinkIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "shop.product";

    private final ClickHouseServer clickhouse;
    private String database;
    private ClickHouseSink sink;

    ClickHouseSinkIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void createDatabase() {
        database = clickhouse.createDatabase("sink");
    }

    @AfterEach
    void closeSink() {
        if (sink != null) {
            sink.close().block(TIMEOUT);
        }
    }

    private ClickHouseSink sink(WriteMode mode) {
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .table(TABLE, TableOptions.builder().mode(mode)
                        .create(List.of("id UInt64", "name String", "price Decimal(10, 2)"), List.of("id"))
                        .build())
                .build());
        return sink;
    }

    /** Two chunks: inserts, an update, a delete, and a delete followed by a re-insert of the same key. */
    private static List<Chunk> history() {
        return List.of(
                chunk(10,
                        save(TABLE, 1, 100, "name", "one", "price", new java.math.BigDecimal("1.50")),
                        save(TABLE, 2, 101, "name", "two", "price", new java.math.BigDecimal("2.00")),
                        save(TABLE, 3, 102, "name", "three", "price", new java.math.BigDecimal("3.00"))),
                chunk(20,
                        save(TABLE, 1, 200, "name", "one v2", "price", new java.math.BigDecimal("1.75")),
                        delete(TABLE, 2, 201),
                        delete(TABLE, 3, 202),
                        save(TABLE, 3, 203, "name", "three again", "price", new java.math.BigDecimal("3.30")),
                        save(TABLE, 4, 204, "name", "four", "price", 4L),
                        delete(TABLE, 4, 205)));
    }

    private static final String FINAL_STATE = "1\tone v2\t1.75\n3\tthree again\t3.30\n";

    private void write(List<Chunk> chunks) {
        Flux.fromIterable(chunks).concatMap(sink::write).then()
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
    }

    private String query(String sql) {
        return clickhouse.execute(sql.replace("$t", database + ".shop_product") + " FORMAT TabSeparated");
    }

    @Test
    void replacingModeEndsInTheSourceFinalStateAfterFinal() {
        sink(WriteMode.REPLACING);
        write(history());
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
        assertThat(query("SELECT id, version, is_deleted FROM $t FINAL ORDER BY id"))
                .isEqualTo("1\t200\t0\n2\t201\t1\n3\t203\t0\n4\t205\t1\n");
    }

    @Test
    void replacingModeReplayedChunksChangeNothingVisible() {
        sink(WriteMode.REPLACING);
        write(history());
        String before = query("SELECT id, name, price, version, is_deleted FROM $t FINAL ORDER BY id");
        write(history());
        write(history().subList(1, 2));
        assertThat(query("SELECT id, name, price, version, is_deleted FROM $t FINAL ORDER BY id")).isEqualTo(before);
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
    }

    @Test
    void collapsingModeEndsInTheSourceFinalStateAfterFinal() {
        sink(WriteMode.COLLAPSING);
        write(history());
        assertThat(query("SELECT id, name, price FROM $t FINAL ORDER BY id")).isEqualTo(FINAL_STATE);
        assertThat(query("SELECT id, name, price FROM $t GROUP BY id, name, price HAVING sum(sign) > 0 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
    }

    @Test
    void collapsingModeReplayedChunksChangeNothingVisible() {
        sink(WriteMode.COLLAPSING);
        write(history());
        String rows = query("SELECT count() FROM $t");
        write(history());
        write(history().subList(1, 2));
        assertThat(query("SELECT id, name, price FROM $t FINAL ORDER BY id")).isEqualTo(FINAL_STATE);
        assertThat(query("SELECT count() FROM $t")).isEqualTo(rows);
    }

    @Test
    void collapsingModeCancelsTheExactPreviousRowLikeDjangoClickhouse() {
        sink(WriteMode.COLLAPSING);
        write(List.of(chunk(1, save(TABLE, 7, 1, "name", "a", "price", 1L))));
        write(List.of(chunk(2, save(TABLE, 7, 2, "name", "b", "price", 2L))));
        write(List.of(chunk(3, delete(TABLE, 7, 3))));
        assertThat(query("SELECT id, name, price, version, sign FROM $t ORDER BY version, sign"))
                .isEqualTo("7\ta\t1.00\t1\t-1\n7\ta\t1.00\t1\t1\n7\tb\t2.00\t2\t-1\n7\tb\t2.00\t2\t1\n");
        assertThat(query("SELECT count() FROM $t FINAL")).isEqualTo("0\n");
    }

    @Test
    void appendModeWritesEveryItemAsARow() {
        sink(WriteMode.APPEND);
        write(history());
        assertThat(query("SELECT id, name, version FROM $t ORDER BY version"))
                .isEqualTo("1\tone\t100\n2\ttwo\t101\n3\tthree\t102\n1\tone v2\t200\n2\t\t201\n3\t\t202\n"
                        + "3\tthree again\t203\n4\tfour\t204\n4\t\t205\n");
        assertThat(query("SELECT id, name, price FROM $t WHERE (id, version) IN "
                + "(SELECT id, max(version) FROM $t GROUP BY id) AND name != '' ORDER BY id"))
                .isEqualTo(FINAL_STATE);
    }

    @Test
    void tableCreationIsIdempotentAndDeclaresTheModeColumns() {
        sink(WriteMode.REPLACING);
        write(history().subList(0, 1));
        sink.close().block(TIMEOUT);
        sink(WriteMode.REPLACING);
        write(history().subList(1, 2));
        assertThat(clickhouse.execute("SHOW CREATE TABLE " + database + ".shop_product FORMAT TabSeparated"))
                .contains("ReplacingMergeTree(version)").contains("is_deleted UInt8").contains("version UInt64");
    }
}
