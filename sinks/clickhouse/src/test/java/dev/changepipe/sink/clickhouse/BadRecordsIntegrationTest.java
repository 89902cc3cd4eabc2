package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.delete;
import static dev.changepipe.sink.clickhouse.Items.map;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.OnBadRecord;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.test.StepVerifier;

/**
 * One bad record costs one dead letter and nothing else: values ClickHouse columns cannot take, a
 * table that does not exist; the rest of the write lands, a replay stores no second letter.
 */
@ExtendWith(ClickHouseServerExtension.class)
class BadRecordsIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "polls.choice";

    private final ClickHouseServer clickhouse;
    @TempDir
    Path dir;
    private String database;
    private ClickHouseSink sink;
    private FileDeadLetterStore store;

    BadRecordsIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void createDatabase() {
        database = clickhouse.createDatabase("bad");
        store = FileDeadLetterStore.open(dir.resolve("dead-letters.jsonl"), "polls", new SimpleMeterRegistry());
    }

    @AfterEach
    void closeSink() {
        if (sink != null) {
            sink.close().block(TIMEOUT);
        }
        store.close();
    }

    private ClickHouseSink sink(WriteMode mode, OnBadRecord onBadRecord) {
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .defaultMode(mode)
                .onBadRecord(onBadRecord)
                .deadLetters(store)
                .table(TABLE, TableOptions.builder()
                        .create(List.of("id UInt64", "uuid UUID", "choice_text String", "votes Int32",
                                "created DateTime"), List.of("id"))
                        .build())
                .build());
        return sink;
    }

    private static ChangeItem choice(long id, long version, Object votes) {
        return save(TABLE, id, version, "uuid", "8a3b9bd4-7c76-4f0e-a6a2-2b1b0b1c6d9e", "choice_text", "c" + id,
                "votes", votes, "created", "2026-12-05T06:00:00");
    }

    /** A chunk with good rows and one bad row of each kind a column can refuse. */
    private static List<Chunk> chunks() {
        Map<String, Object> badUuid = map("uuid", "not-a-uuid", "choice_text", "u", "votes", 1L);
        Map<String, Object> badDate = map("choice_text", "d", "votes", 1L, "created", "yesterday-ish");
        return List.of(
                Chunk.of("app.log", Offset.of(100), List.of(
                        choice(1, 1, 10L),
                        choice(2, 2, "abc"),                                    // not a number
                        choice(3, 3, 5_000_000_000L),                           // out of range for Int32
                        choice(4, 4, new BigDecimal("1e400")),                  // far out of range
                        ChangeItem.update(TABLE, Map.of("id", 5L), badUuid, 5),  // bad UUID
                        ChangeItem.update(TABLE, Map.of("id", 6L), badDate, 6),  // bad DateTime
                        ChangeItem.update(TABLE, Map.of("id", -7L), map("votes", 1L), 7), // negative UInt64 key
                        ChangeItem.update("polls.nothere", Map.of("id", 8L), map("x", 1L), 8), // no such table
                        choice(9, 9, 90L)), false),
                Chunk.of("app.log", Offset.of(200), List.of(
                        choice(1, 10, 11L),
                        delete(TABLE, 9, 11)), false));
    }

    private String query(String sql) {
        return clickhouse.execute(sql.replace("$t", database + ".polls_choice") + " FORMAT TabSeparated");
    }

    @Test
    void oneBadRecordCostsOneDeadLetterAndTheRestOfTheBatchIsWritten() {
        sink(WriteMode.REPLACING, OnBadRecord.DEAD_LETTER);
        sink.writeBatch(chunks()).as(StepVerifier::create).expectComplete().verify(TIMEOUT);

        assertThat(query("SELECT id, votes FROM $t FINAL WHERE is_deleted = 0 ORDER BY id")).isEqualTo("1\t11\n");
        List<DeadLetter> letters = store.list();
        assertThat(letters).extracting(DeadLetter::key)
                .containsExactly("{id=2}", "{id=3}", "{id=4}", "{id=5}", "{id=6}", "{id=-7}", "{id=8}");
        assertThat(letters).allSatisfy(l -> {
            assertThat(l.pipeline()).isEqualTo("polls");
            assertThat(l.sink()).isEqualTo("clickhouse");
            assertThat(l.origin()).isEqualTo("app.log");
            assertThat(l.record()).startsWith("{\"kind\":\"UPDATE\"");
        });
        assertThat(letters.get(0).reason()).contains("votes", "Int32", "'abc' is not a number");
        assertThat(letters.get(0).cause()).isEqualTo("conversion");
        assertThat(letters.get(6).cause()).isEqualTo("unknown-table");
        assertThat(letters.get(6).reason()).contains("polls_nothere", "does not exist");

        // a replay (after a restart) writes the same state and stores no letter twice
        sink.writeBatch(chunks()).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        sink.write(chunks().get(0)).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(store.list()).hasSize(7);
        assertThat(query("SELECT id, votes FROM $t FINAL WHERE is_deleted = 0 ORDER BY id")).isEqualTo("1\t11\n");
    }

    @Test
    void collapsingModeIsolatesBadRecordsToo() {
        sink(WriteMode.COLLAPSING, OnBadRecord.DEAD_LETTER);
        sink.writeBatch(chunks()).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(query("SELECT id, votes FROM $t FINAL ORDER BY id")).isEqualTo("1\t11\n");
        assertThat(store.list()).hasSize(7);
    }

    @Test
    void onBadRecordFailStopsAtTheRecordNamingTableColumnAndValue() {
        sink(WriteMode.REPLACING, OnBadRecord.FAIL);
        sink.write(chunks().get(0)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e)
                        .isInstanceOf(ClickHouseWriteException.class)
                        .hasMessageContaining("polls_choice").hasMessageContaining("votes")
                        .hasMessageContaining("'abc'"))
                .verify(TIMEOUT);
        assertThat(store.list()).isEmpty();
    }
}
