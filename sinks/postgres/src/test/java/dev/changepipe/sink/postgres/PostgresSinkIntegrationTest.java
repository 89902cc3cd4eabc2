package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.SinkException;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.test.StepVerifier;

/** The sink against a real PostgreSQL: each test in a database of its own. */
@ExtendWith(PostgresServerExtension.class)
class PostgresSinkIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String UUID_A = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    private final AtomicLong offsets = new AtomicLong();
    private final List<PostgresSink> sinks = new ArrayList<>();
    private PostgresServer postgres;
    private String db;

    @BeforeEach
    void createDatabase(PostgresServer postgres) {
        this.postgres = postgres;
        this.db = postgres.createDatabase("pgsink");
        sql("CREATE TABLE polls_question (id bigint PRIMARY KEY, question_text varchar(200) NOT NULL,"
                + " pub_date timestamptz, uuid uuid UNIQUE)");
        sql("CREATE TABLE polls_choice (id bigint PRIMARY KEY, question_id bigint REFERENCES polls_question (id)"
                + " DEFERRABLE INITIALLY DEFERRED, choice_text varchar(200) NOT NULL, votes integer NOT NULL DEFAULT 0)");
    }

    @AfterEach
    void closeSinks() {
        sinks.forEach(s -> s.close().block(TIMEOUT));
    }

    @Test
    void savesAreUpsertsAppliedOnlyWhenTheVersionIsNewer() {
        PostgresSink sink = sink(b -> { });
        write(sink, save("polls.question", 1, 10, Map.of("question_text", "first")));
        write(sink, save("polls.question", 1, 5, Map.of("question_text", "older")));
        assertThat(sql("SELECT question_text, changepipe_version FROM polls_question")).isEqualTo("first|10");
        write(sink, save("polls.question", 1, 20, Map.of("question_text", "newer")));
        write(sink, save("polls.question", 1, 10, Map.of("question_text", "first")));
        assertThat(sql("SELECT question_text, changepipe_version FROM polls_question")).isEqualTo("newer|20");
    }

    @Test
    void sameItemsWrittenTwiceLeaveTheSameState() {
        PostgresSink sink = sink(b -> { });
        List<ChangeItem> items = List.of(
                save("polls.question", 1, 1, Map.of("question_text", "a")),
                save("polls.question", 2, 2, Map.of("question_text", "b")),
                save("polls.question", 1, 3, Map.of("question_text", "a2")),
                delete("polls.question", 2, 4));
        write(sink, items);
        String once = dump();
        write(sink, items);
        assertThat(dump()).isEqualTo(once).isEqualTo("question 1|a2|||3\n" + "tombstone \"public\".\"polls_question\"|2|4");
    }

    @Test
    void deleteRecordsItsVersionSoAnOlderSaveDoesNotResurrectTheRow() {
        PostgresSink sink = sink(b -> { });
        write(sink, save("polls.question", 1, 10, Map.of("question_text", "x")));
        write(sink, delete("polls.question", 1, 20));
        assertThat(sql("SELECT count(*) FROM polls_question")).isEqualTo("0");
        write(sink, save("polls.question", 1, 10, Map.of("question_text", "x")));
        write(sink, save("polls.question", 1, 15, Map.of("question_text", "late")));
        assertThat(sql("SELECT count(*) FROM polls_question")).isEqualTo("0");
        write(sink, save("polls.question", 1, 30, Map.of("question_text", "saved again")));
        assertThat(sql("SELECT question_text, changepipe_version FROM polls_question")).isEqualTo("saved again|30");
    }

    @Test
    void deleteOfAnOlderVersionDoesNotRemoveANewerRow() {
        PostgresSink sink = sink(b -> { });
        write(sink, save("polls.question", 1, 30, Map.of("question_text", "x")));
        write(sink, delete("polls.question", 1, 20));
        assertThat(sql("SELECT question_text, changepipe_version FROM polls_question")).isEqualTo("x|30");
    }

    @Test
    void deleteThenSaveUnderANewPkWithTheSameUuidAppliesCleanlyInOneChunkAcrossChunksAndOnReplay() {
        PostgresSink sink = sink(b -> { });
        List<ChangeItem> log = List.of(
                save("polls.question", 1, 1, Map.of("question_text", "q", "uuid", UUID_A)),
                delete("polls.question", 1, 2),
                save("polls.question", 2, 3, Map.of("question_text", "q again", "uuid", UUID_A)),
                delete("polls.question", 2, 4),
                save("polls.question", 3, 5, Map.of("question_text", "q third", "uuid", UUID_A)));
        write(sink, log);
        String expected = "3|q third|" + UUID_A + "|5";
        assertThat(sql("SELECT id, question_text, uuid, changepipe_version FROM polls_question")).isEqualTo(expected);
        for (ChangeItem item : log) {
            write(sink, item); // one chunk each, replayed from the start
        }
        assertThat(sql("SELECT id, question_text, uuid, changepipe_version FROM polls_question")).isEqualTo(expected);
        write(sink, log.subList(0, 3));
        write(sink, log.subList(3, 5));
        assertThat(sql("SELECT id, question_text, uuid, changepipe_version FROM polls_question")).isEqualTo(expected);
    }

    @Test
    void djangoConventionsMapModelToTableAndForeignKeyFieldToItsIdColumn() {
        PostgresSink sink = sink(b -> { });
        write(sink, List.of(
                save("polls.question", 5, 1, Map.of("question_text", "Why?", "pub_date", "2019-03-26T10:51:03.123Z")),
                save("polls.choice", 7, 2, Map.of("question", 5L, "choice_text", "Because", "votes", 3L))));
        assertThat(sql("SELECT id, question_id, choice_text, votes FROM polls_choice")).isEqualTo("7|5|Because|3");
        assertThat(sql("SELECT pub_date = '2019-03-26 10:51:03.123+00' FROM polls_question")).isEqualTo("t");
    }

    @Test
    void valuesAreConvertedToTheColumnTypes() {
        sql("CREATE TYPE mood AS ENUM ('happy', 'sad')");
        sql("CREATE TABLE app_all (id uuid PRIMARY KEY, small smallint, i integer, big bigint, amount numeric(12,2),"
                + " ratio double precision, r real, flag boolean, name varchar(10), body text, at timestamptz,"
                + " local timestamp, day date, clock time, doc jsonb, raw json, tags text[], scores integer[],"
                + " refs uuid[], blob bytea, span interval, mood mood)");
        PostgresSink sink = sink(b -> { });
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("small", 7L);
        values.put("i", 70000L);
        values.put("big", 9_000_000_000L);
        values.put("amount", new BigDecimal("1234.50"));
        values.put("ratio", new BigDecimal("0.25"));
        values.put("r", 2L);
        values.put("flag", true);
        values.put("name", "Zoë's \"q\"");
        values.put("body", "naïve — 日本語 \\ 'quoted' \n newline");
        values.put("at", "2024-02-29T23:59:59.999999+03:00");
        values.put("local", "2024-01-01T00:00:00");
        values.put("day", "2024-02-29");
        values.put("clock", "10:51:03.123");
        values.put("doc", Map.of("k", List.of(1L, "two", Map.of("x", true))));
        values.put("raw", List.of(new BigDecimal("1.5"), "s"));
        values.put("tags", List.of("a", "b,c", "d\"e"));
        values.put("scores", List.of(1L, 2L, 3L));
        values.put("refs", List.of(UUID_A));
        values.put("blob", "AAEC/w==");
        values.put("span", "1 day 02:00:00");
        values.put("mood", "happy");
        write(sink, ChangeItem.update("app.all", Map.of("id", UUID_A), values, 1));
        assertThat(sql("SELECT small, i, big, amount, ratio, r, flag, name, body FROM app_all"))
                .isEqualTo("7|70000|9000000000|1234.50|0.25|2|t|Zoë's \"q\"|naïve — 日本語 \\ 'quoted' \n newline");
        assertThat(sql("SET TIME ZONE 'UTC'; SELECT at, local, day, clock FROM app_all"))
                .isEqualTo("2024-02-29 20:59:59.999999+00|2024-01-01 00:00:00|2024-02-29|10:51:03.123");
        assertThat(sql("SELECT doc, raw, tags, scores, refs, encode(blob, 'hex'), span, mood FROM app_all"))
                .isEqualTo("{\"k\": [1, \"two\", {\"x\": true}]}|[1.5, \"s\"]|{a,\"b,c\",\"d\\\"e\"}|{1,2,3}|{"
                        + UUID_A + "}|000102ff|1 day 02:00:00|happy");
        Map<String, Object> nulls = new LinkedHashMap<>();
        for (String column : values.keySet()) {
            nulls.put(column, null);
        }
        write(sink, ChangeItem.update("app.all", Map.of("id", UUID_A), nulls, 2));
        assertThat(sql("SELECT num_nulls(small, i, big, amount, ratio, r, flag, name, body, at, local, day, clock, doc,"
                + " raw, tags, scores, refs, blob, span, mood) FROM app_all")).isEqualTo("21");
    }

    @Test
    void perTableOverrideMapsTableAndColumns() {
        sql("CREATE TABLE legacy_questions (qid bigint PRIMARY KEY, label text)");
        PostgresSink sink = sink(b -> b.table("polls.oldquestion", "legacy_questions")
                .column("polls.oldquestion", "id", "qid")
                .column("polls.oldquestion", "question_text", "label"));
        write(sink, save("polls.oldquestion", 3, 1, Map.of("question_text", "mapped")));
        write(sink, delete("polls.oldquestion", 3, 2));
        write(sink, save("polls.oldquestion", 4, 3, Map.of("question_text", "kept")));
        assertThat(sql("SELECT qid, label FROM legacy_questions")).isEqualTo("4|kept");
    }

    @Test
    void unknownTableFailsNamingIt() {
        PostgresSink sink = sink(b -> { });
        sink.write(chunk(List.of(save("nope.missing", 1, 1, Map.of())))).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class)
                        .hasMessageContaining("unknown table \"public\".\"nope_missing\"")
                        .hasMessageContaining("nope.missing")
                        .matches(x -> !((SinkException) x).isRetryable()))
                .verify(TIMEOUT);
    }

    @Test
    void unknownColumnFailsInStrictModeAndIsSkippedOtherwise() {
        ChangeItem item = save("polls.question", 1, 1, Map.of("question_text", "q", "extra", "x"));
        sink(b -> b.strictColumns(true)).write(chunk(List.of(item))).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class)
                        .hasMessageContaining("field 'extra' has no column in \"public\".\"polls_question\"")
                        .extracting(x -> ((SinkException) x).column()).isEqualTo("extra"))
                .verify(TIMEOUT);
        assertThat(sql("SELECT count(*) FROM polls_question")).isEqualTo("0");
        write(sink(b -> { }), item);
        assertThat(sql("SELECT question_text FROM polls_question")).isEqualTo("q");
    }

    @Test
    void typeConversionFailureNamesTableColumnValueAndKey() {
        PostgresSink sink = sink(b -> { });
        ChangeItem bad = save("polls.question", 42, 1, Map.of("question_text", "q", "uuid", "not-a-uuid"));
        sink.write(chunk(List.of(save("polls.question", 1, 1, Map.of("question_text", "ok")), bad)))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(SinkException.class)
                            .hasMessageContaining("polls.question")
                            .hasMessageContaining("column \"uuid\"")
                            .hasMessageContaining("'not-a-uuid'")
                            .hasMessageContaining("key {id=42}");
                    assertThat(((SinkException) e).isRetryable()).isFalse();
                    assertThat(((SinkException) e).column()).isEqualTo("uuid");
                })
                .verify(TIMEOUT);
        assertThat(sql("SELECT count(*) FROM polls_question")).isEqualTo("0");
    }

    @Test
    void aChunkIsAppliedInOneTransaction() {
        PostgresSink sink = sink(b -> { });
        write(sink, save("polls.question", 9, 1, Map.of("question_text", "q", "uuid", UUID_A)));
        // The last item breaks the unique constraint on uuid: nothing of the chunk may stay.
        sink.write(chunk(List.of(
                        save("polls.question", 1, 2, Map.of("question_text", "a")),
                        save("polls.question", 9, 3, Map.of("question_text", "changed", "uuid", UUID_A)),
                        delete("polls.question", 1, 4),
                        save("polls.question", 2, 5, Map.of("question_text", "dup", "uuid", UUID_A)))))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class)
                        .hasMessageContaining("23505")
                        .matches(x -> !PipelineException.isRetryable(x)))
                .verify(TIMEOUT);
        assertThat(dump()).isEqualTo("question 9|q||" + UUID_A + "|1");
    }

    @Test
    void transientErrorsAreRetriedSerializationFailure() {
        assertRetried("40001", "RAISE EXCEPTION 'injected' USING ERRCODE = '40001'");
    }

    @Test
    void transientErrorsAreRetriedDeadlock() {
        assertRetried("40P01", "RAISE EXCEPTION 'injected' USING ERRCODE = '40P01'");
    }

    @Test
    void transientErrorsAreRetriedConnectionLost() {
        assertRetried("57P01", "PERFORM pg_terminate_backend(pg_backend_pid())");
    }

    @Test
    void permanentErrorsAreNotRetried() {
        sql("CREATE SEQUENCE fault_seq");
        sql("CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                + " PERFORM nextval('fault_seq'); RAISE EXCEPTION 'injected' USING ERRCODE = '22012'; END $$");
        sql("CREATE TRIGGER fault BEFORE INSERT OR UPDATE ON polls_question FOR EACH ROW EXECUTE FUNCTION inject_fault()");
        sink(b -> b.retryBackoff(Duration.ofMillis(1), Duration.ofMillis(5)))
                .write(chunk(List.of(save("polls.question", 1, 1, Map.of("question_text", "q")))))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("22012"))
                .verify(TIMEOUT);
        assertThat(sql("SELECT last_value FROM fault_seq")).isEqualTo("1");
    }

    @Test
    void versionColumnIsAddedWhenMissingOrRequiredWhenAddingIsOff() {
        sink(b -> b.addVersionColumn(false)).write(chunk(List.of(save("polls.question", 1, 1, Map.of("question_text", "q")))))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("has no version column \"changepipe_version\""))
                .verify(TIMEOUT);
        write(sink(b -> b.versionColumn("Row \"Version\"")), save("polls.question", 1, 1, Map.of("question_text", "q")));
        assertThat(sql("SELECT \"Row \"\"Version\"\"\" FROM polls_question")).isEqualTo("1");
    }

    @Test
    void deletesGoBeforeSavesOfOtherKeysOnlyWhereNoTriggerOrSelfReferenceCanTell() {
        // An immediate self-reference: row 2 must stop pointing at 1 before 1 can go.
        sql("CREATE TABLE tree_node (id bigint PRIMARY KEY, parent_id bigint REFERENCES tree_node (id), label text)");
        PostgresSink sink = sink(b -> { });
        write(sink, List.of(save("tree.node", 1, 1, Map.of("label", "root")),
                save("tree.node", 2, 2, Map.of("parent", 1L, "label", "child"))));
        Map<String, Object> orphan = new LinkedHashMap<>();
        orphan.put("parent", null);
        orphan.put("label", "child");
        write(sink, List.of(save("tree.node", 2, 3, orphan), delete("tree.node", 1, 4),
                save("tree.node", 3, 5, Map.of("label", "other"))));
        assertThat(sql("SELECT id, parent_id, label FROM tree_node ORDER BY id")).isEqualTo("2||child\n3||other");
        // Where nothing can tell, the deletes of a segment go first: the reversed Django pattern (the
        // new pk saved with the UUID before the old pk's delete) then applies too.
        write(sink, save("polls.question", 1, 10, Map.of("question_text", "old", "uuid", UUID_A)));
        write(sink, List.of(save("polls.question", 2, 11, Map.of("question_text", "new", "uuid", UUID_A)),
                delete("polls.question", 1, 12)));
        assertThat(sql("SELECT id, question_text, uuid FROM polls_question")).isEqualTo("2|new|" + UUID_A);
    }

    private void assertRetried(String state, String fault) {
        sql("CREATE SEQUENCE fault_seq");
        sql("CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                + " IF nextval('fault_seq') <= 2 THEN " + fault + "; END IF; RETURN NEW; END $$");
        sql("CREATE TRIGGER fault BEFORE INSERT OR UPDATE ON polls_question FOR EACH ROW EXECUTE FUNCTION inject_fault()");
        PostgresSink sink = sink(b -> b.retryBackoff(Duration.ofMillis(1), Duration.ofMillis(5)));
        write(sink, List.of(save("polls.question", 1, 1, Map.of("question_text", "a")),
                save("polls.question", 2, 2, Map.of("question_text", "b"))));
        assertThat(sql("SELECT id, question_text FROM polls_question ORDER BY id")).as(state).isEqualTo("1|a\n2|b");
        assertThat(sql("SELECT last_value FROM fault_seq")).as("attempts of the first row").isEqualTo("4");
    }

    private PostgresSink sink(Consumer<PostgresSinkOptions.Builder> settings) {
        PostgresSinkOptions.Builder b = PostgresSinkOptions.builder().url(postgres.r2dbcUrl(db));
        settings.accept(b);
        PostgresSink sink = PostgresSink.create(b.build());
        sinks.add(sink);
        return sink;
    }

    private void write(PostgresSink sink, ChangeItem item) {
        write(sink, List.of(item));
    }

    private void write(PostgresSink sink, List<ChangeItem> items) {
        sink.write(chunk(items)).as(StepVerifier::create).verifyComplete();
    }

    private Chunk chunk(List<ChangeItem> items) {
        return Chunk.of("test", Offset.of(offsets.incrementAndGet()), items, false);
    }

    static ChangeItem save(String table, long id, long version, Map<String, Object> fields) {
        Map<String, Object> values = new LinkedHashMap<>(fields);
        values.put("id", id);
        return ChangeItem.update(table, Map.of("id", id), values, version);
    }

    static ChangeItem delete(String table, long id, long version) {
        return ChangeItem.delete(table, Map.of("id", id), version);
    }

    private String dump() {
        String questions = sql("SELECT 'question ' || id, question_text, pub_date, uuid, changepipe_version"
                + " FROM polls_question ORDER BY id");
        String tombstones = sql("SELECT 'tombstone ' || table_name, row_key, version FROM changepipe_tombstones"
                + " ORDER BY 1, 2");
        return (questions + "\n" + tombstones).strip();
    }

    private String sql(String sql) {
        return postgres.execute(db, sql).strip();
    }
}
