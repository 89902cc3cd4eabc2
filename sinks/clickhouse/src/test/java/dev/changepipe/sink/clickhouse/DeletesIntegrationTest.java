package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.map;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/**
 * Deletes stay deleted on tables partitioned or sorted by columns other than the key, as
 * django-clickhouse's migrations create them ({@code PARTITION BY toYYYYMM(created_date)}): {@code FINAL}
 * collapses rows only within a partition and sorting key, so a tombstone must land exactly where the row
 * it deletes is.
 */
@ExtendWith(ClickHouseServerExtension.class)
class DeletesIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "polls.choice";
    private static final String COLUMNS = "id UInt64, created_date Date, question_id UInt64, choice_text String,"
            + " votes Int32, version UInt64";

    private final ClickHouseServer clickhouse;
    private String database;
    private ClickHouseSink sink;

    DeletesIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void createDatabase() {
        database = clickhouse.createDatabase("deletes");
    }

    @AfterEach
    void closeSink() {
        if (sink != null) {
            sink.close().block(TIMEOUT);
        }
    }

    private void sink(WriteMode mode) {
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .table(TABLE, TableOptions.builder().mode(mode).build())
                .build());
    }

    private static ChangeItem save(long id, long version, String createdDate, long question, long votes) {
        return ChangeItem.update(TABLE, Map.of("id", id), map("id", id, "created_date", createdDate,
                "question", question, "choice_text", "choice " + id, "votes", votes), version);
    }

    private static ChangeItem delete(long id, long version) {
        return ChangeItem.delete(TABLE, Map.of("id", id), version);
    }

    /** A delete carrying the row before it (a source with before-images). */
    private static ChangeItem deleteWithImage(long id, long version, String createdDate, long question) {
        return ChangeItem.of(ChangeItem.Kind.DELETE, TABLE, Map.of("id", id), map("id", id,
                "created_date", createdDate, "question_id", question, "choice_text", "choice " + id), version);
    }

    /**
     * Saves in four months and two questions; then deletes read back from ClickHouse, one with a
     * before-image, a key saved and deleted in the same chunk, a key never seen, and a key whose
     * partition column changed (rows in two partitions) deleted later.
     */
    private static List<Chunk> history() {
        return List.of(
                chunk(10,
                        save(1, 100, "2024-01-15", 1, 3),
                        save(2, 101, "2024-02-10", 1, 4),
                        save(3, 102, "2024-03-01", 2, 5),
                        save(4, 103, "2024-04-01", 2, 6),
                        save(7, 104, "2024-06-01", 3, 7)),
                chunk(20,
                        delete(1, 200),
                        deleteWithImage(2, 201, "2024-02-10", 1),
                        save(5, 202, "2024-05-05", 3, 1),
                        delete(5, 203),
                        delete(99, 204),
                        save(4, 205, "2024-04-01", 2, 60),
                        save(7, 206, "2024-07-01", 4, 8)),
                chunk(30,
                        delete(4, 300),
                        delete(7, 301),
                        save(8, 302, "2024-08-08", 4, 9)));
    }

    private static final String FINAL_STATE = "3\t5\n8\t9\n";

    private void write(List<Chunk> chunks) {
        Flux.fromIterable(chunks).concatMap(sink::write).then()
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
    }

    private String query(String sql) {
        return clickhouse.execute(sql.replace("$t", database + ".polls_choice") + " FORMAT TabSeparated");
    }

    /**
     * The engines: the table's own {@code FINAL}, and what {@code FINAL} shows on servers that collapse
     * only within a partition (18.16 collapses across partitions, newer releases may not): rows grouped by
     * partition and sorting key.
     */
    static Stream<Arguments> replacingTables() {
        return Stream.of(
                arguments("ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date) ORDER BY id", "id"),
                arguments("ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date)"
                        + " ORDER BY (question_id, id)", "question_id, id"),
                arguments("ENGINE = ReplacingMergeTree(version) ORDER BY (question_id, `id`)", "question_id, id"),
                arguments("ENGINE = ReplacingMergeTree(created_date, (id), 8192, version)", "id"),
                arguments(", month Date MATERIALIZED toStartOfMonth(created_date)) ENGINE = ReplacingMergeTree(version)"
                        + " PARTITION BY month ORDER BY id", "id"));
    }

    @ParameterizedTest
    @MethodSource("replacingTables")
    void replacingModeDeletesLeaveNoVisibleRowAfterFinal(String engine, String sortingKey) {
        createTable(", is_deleted UInt8", engine);
        sink(WriteMode.REPLACING);
        String visible = "SELECT id, votes FROM $t FINAL WHERE is_deleted = 0 ORDER BY id";
        String perPartition = "SELECT id, argMax(votes, version) FROM $t GROUP BY _partition_id, " + sortingKey
                + " HAVING argMax(is_deleted, version) = 0 ORDER BY id";
        write(history());
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);

        write(history()); // a replay
        write(history().subList(1, 3));
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);
        clickhouse.execute("OPTIMIZE TABLE " + database + ".polls_choice FINAL");
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);
    }

    static Stream<Arguments> collapsingTables() {
        return Stream.of(
                arguments("ENGINE = CollapsingMergeTree(sign) PARTITION BY toYYYYMM(created_date) ORDER BY id", "id"),
                arguments("ENGINE = CollapsingMergeTree(sign) PARTITION BY toYYYYMM(created_date)"
                        + " ORDER BY (question_id, id)", "question_id, id"),
                arguments("ENGINE = CollapsingMergeTree(created_date, (id), 8192, sign)", "id"));
    }

    @ParameterizedTest
    @MethodSource("collapsingTables")
    void collapsingModeDeletesLeaveNoVisibleRowAfterFinal(String engine, String sortingKey) {
        createTable(", sign Int8", engine);
        sink(WriteMode.COLLAPSING);
        String visible = "SELECT id, votes FROM $t FINAL ORDER BY id";
        String perPartition = "SELECT id, sum(votes * sign) FROM $t GROUP BY _partition_id, " + sortingKey
                + " HAVING sum(sign) > 0 ORDER BY id";
        write(history());
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);

        write(history()); // a replay
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);
        clickhouse.execute("OPTIMIZE TABLE " + database + ".polls_choice FINAL");
        assertThat(query(visible)).isEqualTo(FINAL_STATE);
        assertThat(query(perPartition)).isEqualTo(FINAL_STATE);
    }

    @ParameterizedTest
    @EnumSource(value = WriteMode.class, names = {"REPLACING", "COLLAPSING"})
    void aKeyColumnOfATypeTheSinkCannotWriteIsRefusedWhenTheTableIsRead(WriteMode mode) {
        createTable(mode == WriteMode.REPLACING ? ", is_deleted UInt8" : ", sign Int8",
                ", kind Enum8('a' = 1, 'b' = 2)) ENGINE = " + (mode == WriteMode.REPLACING
                        ? "ReplacingMergeTree(version)" : "CollapsingMergeTree(sign)") + " ORDER BY (kind, id)");
        sink(mode);
        sink.write(history().get(0)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(ClickHouseWriteException.class)
                        .hasMessageContaining("column kind")
                        .hasMessageContaining("Enum8('a' = 1, 'b' = 2)")
                        .hasMessageContaining("partition or sorting key")
                        .satisfies(x -> assertThat(((ClickHouseWriteException) x).isRetryable()).isFalse()))
                .verify(TIMEOUT);
    }

    /**
     * Two writes in flight (the pusher overlaps replacing-mode writes): the first moves key 1 to a new
     * partition in a large insert, the second deletes it. The delete's tombstones must cover the row the
     * first write is still sending, so its read-back of the key's positions waits for that write.
     */
    @Test
    void aDeleteWhoseSaveIsInAnEarlierWriteStillInFlightHidesTheRowInEveryPartition() {
        createTable(", is_deleted UInt8", "ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date) ORDER BY id");
        sink(WriteMode.REPLACING);
        assertThat(sink.maxWritesInFlight()).isEqualTo(2);
        write(List.of(chunk(1, save(1, 100, "2024-01-15", 1, 3))));
        List<ChangeItem> moved = new java.util.ArrayList<>();
        moved.add(save(1, 200, "2024-05-15", 1, 4)); // key 1 now in May as well
        for (long id = 2; id <= 200_000; id++) {
            moved.add(save(id, 200 + id, "2024-05-15", 1, 1)); // a long insert
        }
        Mono<Void> first = sink.writeBatch(List.of(chunk(2, moved.toArray(ChangeItem[]::new))));
        Mono<Void> second = sink.writeBatch(List.of(chunk(3, delete(1, 300_000))));

        // subscribed in push order, as the pusher does, without waiting for the first
        Mono.when(first, second).as(StepVerifier::create).expectComplete().verify(TIMEOUT);

        assertThat(query("SELECT count() FROM $t FINAL WHERE is_deleted = 0 AND id = 1")).isEqualTo("0\n");
        assertThat(query("SELECT _partition_id, argMax(is_deleted, version) FROM $t WHERE id = 1"
                + " GROUP BY _partition_id ORDER BY _partition_id")).isEqualTo("202401\t1\n202405\t1\n");
    }

    private void createTable(String modeColumn, String engine) {
        String columns = COLUMNS + modeColumn;
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice (" + columns
                + (engine.startsWith(",") ? engine : ") " + engine));
    }
}
