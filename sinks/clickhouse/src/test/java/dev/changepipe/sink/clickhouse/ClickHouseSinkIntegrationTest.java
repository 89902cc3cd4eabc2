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
        // a replay inserts nothing (row counts would not tell: background merges collapse rows)
        long inserts = insertQueries();
        write(history());
        write(history().subList(1, 2));
        assertThat(query("SELECT id, name, price FROM $t FINAL ORDER BY id")).isEqualTo(FINAL_STATE);
        assertThat(insertQueries()).isEqualTo(inserts);
    }

    private long insertQueries() {
        String n = clickhouse.execute("SELECT sum(value) FROM system.events WHERE event = 'InsertQuery' FORMAT TabSeparated")
                .trim();
        return n.isEmpty() ? 0 : Long.parseLong(n);
    }

    private void writeBatch(List<Chunk> chunks) {
        sink.writeBatch(chunks).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
    }

    /** A first write, of key 99 (the tests leave it out): the table is created and its columns read. */
    private void warmUp() {
        writeBatch(List.of(chunk(1, save(TABLE, 99, 1, "name", "warm-up", "price", 1L))));
    }

    @Test
    void groupCommitABatchIsOneInsertPerTableInReplacingMode() {
        sink(WriteMode.REPLACING);
        warmUp();
        long before = insertQueries();
        writeBatch(history());
        assertThat(insertQueries() - before).isEqualTo(1);
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 AND id < 99 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
        assertThat(sink.maxWritesInFlight()).isEqualTo(2);
    }

    @Test
    void preparedChunksReplacingModeEncodesThemOnceTheTableIsKnownAndWritesABatchAsOneInsert() {
        sink(WriteMode.REPLACING);
        // before the first write the table's columns are not known: nothing to encode for yet
        Chunk early = history().get(0);
        assertThat(sink.prepare(early)).isSameAs(early);
        warmUp();

        List<Chunk> prepared = history().stream().map(sink::prepare).toList();
        for (int i = 0; i < prepared.size(); i++) {
            Chunk chunk = prepared.get(i);
            assertThat(chunk.prepared()).isNotNull();
            assertThat(chunk.items()).isEmpty(); // the encoded rows replace the items
            assertThat(chunk.itemCount()).isEqualTo(history().get(i).items().size());
            assertThat(chunk.preparedBytes()).isPositive();
        }
        long before = insertQueries();
        writeBatch(prepared);
        assertThat(insertQueries() - before).isEqualTo(1);
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 AND id < 99 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
        assertThat(query("SELECT id, version, is_deleted FROM $t FINAL WHERE id < 99 ORDER BY id"))
                .isEqualTo("1\t200\t0\n2\t201\t1\n3\t203\t0\n4\t205\t1\n");
    }

    @Test
    void preparedChunksABatchOfPreparedAndUnpreparedChunksEndsInTheSameState() {
        sink(WriteMode.REPLACING);
        warmUp();
        List<Chunk> history = history();
        // the later chunk prepared, the earlier not: written as two inserts, versions decide
        writeBatch(List.of(history.get(0), sink.prepare(history.get(1))));
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 AND id < 99 ORDER BY id"))
                .isEqualTo(FINAL_STATE);
    }

    @Test
    void preparedChunksOnlyItemsTheTableTakes() {
        sink(WriteMode.REPLACING);
        warmUp();
        // a value the table refuses: the chunk keeps its items, so that its write dead-letters that one
        Chunk bad = chunk(2, save(TABLE, 5, 2, "name", "five", "price", 1L), save(TABLE, 6, 3, "price", "not a number"));
        assertThat(sink.prepare(bad)).isSameAs(bad);
    }

    @Test
    void preparedChunksATableDroppedBeforeTheirWriteIsDescribedAgainAndMadeAgain() {
        sink(WriteMode.REPLACING);
        warmUp();
        Chunk prepared = sink.prepare(history().get(0));
        assertThat(prepared.prepared()).isNotNull();
        clickhouse.execute("DROP TABLE " + database + ".shop_product");
        sink.writeBatch(List.of(prepared)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(ClickHouseWriteException.class))
                .verify(TIMEOUT);
        // the table is forgotten: nothing is encoded for its old columns, and the next write makes it again
        Chunk again = history().get(0);
        assertThat(sink.prepare(again)).isSameAs(again);
        writeBatch(history());
        assertThat(query("SELECT id, name, price FROM $t FINAL WHERE is_deleted = 0 ORDER BY id")).isEqualTo(FINAL_STATE);
    }

    @Test
    void preparedChunksNotInCollapsingMode() {
        sink(WriteMode.COLLAPSING);
        warmUp();
        Chunk collapsing = history().get(0);
        assertThat(sink.prepare(collapsing)).isSameAs(collapsing); // it reads previous rows at write time
    }

    @Test
    void groupCommitABatchIsOneReadAndOneInsertPerTableInCollapsingMode() {
        sink(WriteMode.COLLAPSING);
        writeBatch(List.of(chunk(1, save(TABLE, 1, 1, "name", "old", "price", 1L))));
        long before = insertQueries();
        writeBatch(history());
        assertThat(insertQueries() - before).isEqualTo(1);
        assertThat(query("SELECT id, name, price FROM $t FINAL ORDER BY id")).isEqualTo(FINAL_STATE);
        // replaying the same batch writes nothing; replaying its chunks one by one changes nothing visible
        // (a key deleted before it was ever written leaves no row, so its earlier save is written and
        // cancelled again)
        long inserts = insertQueries();
        writeBatch(history());
        assertThat(insertQueries()).isEqualTo(inserts);
        write(history());
        assertThat(query("SELECT id, name, price FROM $t FINAL ORDER BY id")).isEqualTo(FINAL_STATE);
        assertThat(sink.maxWritesInFlight()).isEqualTo(1);
    }

    @Test
    void groupCommitAppendModeWritesABatchChunkByChunkAndReplaysExactly() {
        sink(WriteMode.APPEND);
        writeBatch(history());
        writeBatch(history());
        write(history());
        assertThat(query("SELECT id, name, version FROM $t ORDER BY version")).isEqualTo(APPEND_LOG);
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

    private static final String APPEND_LOG = "1\tone\t100\n2\ttwo\t101\n3\tthree\t102\n1\tone v2\t200\n2\t\t201\n"
            + "3\t\t202\n3\tthree again\t203\n4\tfour\t204\n4\t\t205\n";

    @Test
    void appendModeReplayedChunksChangeNothingVisible() {
        sink(WriteMode.APPEND);
        // an origin that needs escaping in the count query: quote, backslash, tab, non-ASCII
        String origin = "it's a \\ path\twith ü and 💥";
        Chunk odd = Chunk.of(origin, dev.changepipe.core.Offset.of(-5), List.of(
                save(TABLE, 9, 900, "name", "odd", "price", 9L), save(TABLE, 9, 901, "name", "odd2", "price", 9L)), false);
        write(history());
        write(List.of(odd));
        write(history().subList(1, 2)); // replays, in the same sink
        write(List.of(odd, history().get(0)));
        sink.close().block(TIMEOUT);
        sink(WriteMode.APPEND); // and after a restart
        write(history());
        write(List.of(odd));
        assertThat(query("SELECT id, name, version FROM $t ORDER BY version"))
                .isEqualTo(APPEND_LOG + "9\todd\t900\n9\todd2\t901\n");
        String hex = java.util.HexFormat.of().withUpperCase().formatHex(origin.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThat(query("SELECT hex(changepipe_origin), changepipe_offset, changepipe_row, version FROM $t"
                + " WHERE id = 9 ORDER BY version"))
                .isEqualTo(hex + "\t18446744073709551611\t0\t900\n" + hex + "\t18446744073709551611\t1\t901\n");
        assertThat(query("SELECT changepipe_offset, groupArray(changepipe_row) FROM"
                + " (SELECT * FROM $t WHERE id != 9 ORDER BY changepipe_offset, changepipe_row)"
                + " GROUP BY changepipe_offset ORDER BY changepipe_offset"))
                .isEqualTo("10\t[0,1,2]\n20\t[0,1,2,3,4,5]\n");
    }

    @Test
    void appendModeCompletesAPartiallyCommittedChunkWithExactlyTheMissingRows() {
        for (InsertFormat format : InsertFormat.values()) {
            for (boolean defaults : new boolean[] {false, true}) {
                String table = "shop_part_" + format.name().toLowerCase() + (defaults ? "_defaults" : "");
                sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                        .endpoints(clickhouse.httpUrl()).database(database).format(format)
                        .table("shop.part", TableOptions.builder().mode(WriteMode.APPEND).target(table)
                                .create(List.of("id UInt64", "name String",
                                        defaults ? "label String DEFAULT concat('l', name)" : "label String"),
                                        List.of("id"))
                                .build())
                        .build());
                int n = 3 * 8192 + 17; // several slices, encoded in parallel
                // what an interrupted insert left: a prefix, in order (with defaults: all of the first
                // insert, the rows without label, and a part of the second)
                int k = defaults ? n / 2 + 5 : 8192 + 5;
                List<dev.changepipe.core.ChangeItem> items = new java.util.ArrayList<>();
                for (int i = 0; i < n; i++) {
                    items.add(defaults && i < n / 2
                            ? save("shop.part", i, 1000 + i, "name", "n" + i)
                            : save("shop.part", i, 1000 + i, "name", "n" + i, "label", "x" + i));
                }
                Chunk big = Chunk.of("test.log", dev.changepipe.core.Offset.of(30), items, false);
                write(List.of(chunk(29, save("shop.part", 1_000_000, 1, "name", "before"))));
                clickhouse.execute("INSERT INTO " + database + "." + table
                        + " (id, name, label, version, changepipe_origin, changepipe_offset, changepipe_row)"
                        + " SELECT number, concat('n', toString(number)),"
                        + (defaults ? " if(number < " + n / 2 + ", concat('ln', toString(number)), concat('x', toString(number)))"
                                : " concat('x', toString(number))")
                        + ", 1000 + number, 'test.log', 30, number FROM system.numbers LIMIT " + k);
                write(List.of(big));
                write(List.of(big)); // and once more: nothing
                String t = database + "." + table;
                assertThat(clickhouse.execute("SELECT count(), uniqExact(changepipe_row), min(changepipe_row),"
                        + " max(changepipe_row) FROM " + t + " WHERE changepipe_offset = 30 FORMAT TabSeparated"))
                        .as(table).isEqualTo(n + "\t" + n + "\t0\t" + (n - 1) + "\n");
                assertThat(clickhouse.execute("SELECT count() FROM " + t + " WHERE changepipe_offset = 30 AND"
                        + " (id != changepipe_row OR name != concat('n', toString(id)) OR version != 1000 + id"
                        + " OR label != if(" + (defaults ? "id < " + n / 2 : "0") + ", concat('ln', toString(id)),"
                        + " concat('x', toString(id)))) FORMAT TabSeparated"))
                        .as(table).isEqualTo("0\n");
                assertThat(clickhouse.execute("SELECT count() FROM " + t + " FORMAT TabSeparated"))
                        .as(table).isEqualTo((n + 1) + "\n");
                sink.close().block(TIMEOUT);
                sink = null;
            }
        }
    }

    @Test
    void appendTableWithoutTheChunkColumnsFailsNamingThemAndHowToAddThem() {
        clickhouse.execute("CREATE TABLE " + database + ".shop_product (id UInt64, name String,"
                + " version UInt64) ENGINE = MergeTree ORDER BY id");
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl()).database(database)
                .table(TABLE, TableOptions.builder().mode(WriteMode.APPEND).build())
                .build());
        String[] alter = new String[1];
        sink.write(history().get(0)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class);
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isFalse();
                    assertThat(c.table()).isEqualTo("shop_product");
                    assertThat(c.getMessage()).contains(database + ".shop_product", "changepipe_origin String",
                            "changepipe_offset UInt64", "changepipe_row UInt32", "deduplication", "replayed",
                            "ALTER TABLE `" + database + "`.`shop_product` ADD COLUMN `changepipe_origin` String,"
                                    + " ADD COLUMN `changepipe_offset` UInt64, ADD COLUMN `changepipe_row` UInt32");
                    alter[0] = c.getMessage().substring(c.getMessage().indexOf("ALTER TABLE"));
                })
                .verify(TIMEOUT);
        assertThat(query("SELECT count() FROM $t")).isEqualTo("0\n");
        clickhouse.execute(alter[0]); // the statement the error gives works, and the sink picks it up
        write(history());
        write(history());
        assertThat(query("SELECT id, name, version FROM $t ORDER BY version")).isEqualTo(APPEND_LOG);
    }

    @Test
    void appendModeRefusesAChunkOfWhichTheTableHoldsMoreRowsThanItHas() {
        sink(WriteMode.APPEND);
        write(history());
        sink.write(chunk(20, save(TABLE, 1, 200, "name", "one v2", "price", 1L))).as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class);
                    assertThat(((ClickHouseWriteException) e).isRetryable()).isFalse();
                    assertThat(e.getMessage()).contains("shop_product", "holds 6 rows of chunk test.log@20",
                            "only 1");
                })
                .verify(TIMEOUT);
        assertThat(query("SELECT count() FROM $t")).isEqualTo("9\n");
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
