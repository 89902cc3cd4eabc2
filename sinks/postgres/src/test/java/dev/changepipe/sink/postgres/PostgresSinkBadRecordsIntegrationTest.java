package dev.changepipe.sink.postgres;

import static dev.changepipe.sink.postgres.PostgresSinkIntegrationTest.delete;
import static dev.changepipe.sink.postgres.PostgresSinkIntegrationTest.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.OnBadRecord;
import dev.changepipe.core.SinkException;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.test.StepVerifier;

/**
 * One bad record costs one dead letter and nothing else (DESIGN.md section 8a): values refused in Java
 * or by the server (NOT NULL, CHECK, unique of another key, deferred foreign key), an unknown table;
 * the rest of the batch is committed, a replay stores no letter twice; and a batch of chunks is one
 * transaction (group commit).
 */
@ExtendWith(PostgresServerExtension.class)
class PostgresSinkBadRecordsIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String UUID_A = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    private final AtomicLong offsets = new AtomicLong();
    private final List<PostgresSink> sinks = new ArrayList<>();
    @TempDir
    Path dir;
    private PostgresServer postgres;
    private String db;
    private FileDeadLetterStore store;

    @BeforeEach
    void createDatabase(PostgresServer postgres) {
        this.postgres = postgres;
        this.db = postgres.createDatabase("pgbad");
        sql("CREATE TABLE polls_question (id bigint PRIMARY KEY, question_text varchar(20) NOT NULL,"
                + " pub_date timestamptz, uuid uuid UNIQUE)");
        sql("CREATE TABLE polls_choice (id bigint PRIMARY KEY, question_id bigint REFERENCES polls_question (id)"
                + " DEFERRABLE INITIALLY DEFERRED, choice_text varchar(200) NOT NULL,"
                + " votes integer NOT NULL DEFAULT 0 CHECK (votes >= 0))");
        store = FileDeadLetterStore.open(dir.resolve("dead-letters.jsonl"), "polls", new SimpleMeterRegistry());
    }

    @AfterEach
    void close() {
        sinks.forEach(s -> s.close().block(TIMEOUT));
        store.close();
    }

    @Test
    void oneBadRecordCostsOneDeadLetterAndTheRestOfTheBatchIsWritten() {
        PostgresSink sink = sink(b -> { });
        write(sink, save("polls.question", 9, 1, Map.of("question_text", "taken", "uuid", UUID_A)));
        Map<String, Object> nullText = new HashMap<>();
        nullText.put("question_text", null);
        List<ChangeItem> items = List.of(
                save("polls.question", 1, 10, Map.of("question_text", "one")),
                save("polls.question", 2, 11, Map.of("question_text", "two", "uuid", "not-a-uuid")),
                save("polls.question", 3, 12, nullText),
                save("polls.question", 4, 13, Map.of("question_text", "four", "uuid", UUID_A)),
                save("polls.question", 5, 14, Map.of("question_text", "much longer than twenty characters")),
                save("polls.choice", 1, 15, Map.of("question", 1L, "choice_text", "a", "votes", -1L)),
                save("polls.choice", 2, 16, Map.of("question", 1L, "choice_text", "b", "votes", "abc")),
                save("polls.choice", 3, 17, Map.of("question", 1L, "choice_text", "c", "votes", 3L)),
                save("nope.missing", 1, 18, Map.of("x", 1L)),
                save("polls.question", 6, 19, Map.of("question_text", "six")));

        write(sink, items);

        assertThat(sql("SELECT id, question_text FROM polls_question ORDER BY id")).isEqualTo("1|one\n6|six\n9|taken");
        assertThat(sql("SELECT id, choice_text, votes FROM polls_choice ORDER BY id")).isEqualTo("3|c|3");
        Map<Long, DeadLetter> letters = store.list().stream()
                .collect(Collectors.toMap(DeadLetter::position, l -> l));
        assertThat(letters.keySet()).containsExactlyInAnyOrder(11L, 12L, 13L, 14L, 15L, 16L, 18L);
        assertThat(letters.get(11L).cause()).isEqualTo("conversion");
        assertThat(letters.get(11L).reason()).contains("\"uuid\"", "'not-a-uuid'", "polls_question", "key {id=2}");
        assertThat(letters.get(12L).cause()).isEqualTo("constraint");
        assertThat(letters.get(12L).reason()).contains("23502", "question_text", "key {id=3}");
        assertThat(letters.get(13L).cause()).isEqualTo("constraint");
        assertThat(letters.get(13L).reason()).contains("23505", UUID_A, "key {id=4}");
        assertThat(letters.get(14L).cause()).isEqualTo("conversion");
        assertThat(letters.get(14L).reason()).contains("question_text", "longer than 20 characters");
        assertThat(letters.get(15L).cause()).isEqualTo("constraint");
        assertThat(letters.get(15L).reason()).contains("23514", "polls_choice", "key {id=1}");
        assertThat(letters.get(16L).cause()).isEqualTo("conversion");
        assertThat(letters.get(16L).reason()).contains("\"votes\"", "'abc'");
        assertThat(letters.get(18L).cause()).isEqualTo("unknown-table");
        assertThat(letters.get(18L).reason()).contains("unknown table \"public\".\"nope_missing\"");
        DeadLetter one = letters.get(13L);
        assertThat(one.sink()).isEqualTo("postgres");
        assertThat(one.origin()).isEqualTo("test");
        assertThat(one.table()).isEqualTo("polls.question");
        assertThat(one.record()).contains("\"version\":13");
    }

    @Test
    void aReplayStoresNoLetterTwiceAndChangesNothing() {
        PostgresSink sink = sink(b -> { });
        Map<String, Object> nullText = new HashMap<>();
        nullText.put("question_text", null);
        List<ChangeItem> items = List.of(
                save("polls.question", 1, 1, Map.of("question_text", "one")),
                save("polls.question", 2, 2, nullText),
                save("polls.question", 3, 3, Map.of("question_text", "three", "uuid", "bad")),
                delete("polls.question", 1, 4),
                save("polls.question", 5, 5, Map.of("question_text", "five")));
        write(sink, items);
        String once = sql("SELECT id, question_text, changepipe_version FROM polls_question ORDER BY id");
        assertThat(once).isEqualTo("5|five|5");
        assertThat(store.list()).hasSize(2);
        write(sink, items);
        write(sink(b -> { }), items);
        assertThat(sql("SELECT id, question_text, changepipe_version FROM polls_question ORDER BY id")).isEqualTo(once);
        assertThat(store.list()).hasSize(2);
    }

    @Test
    void aChildWhoseParentIsMissingIsOneDeadLetterWhileAParentLaterInTheBatchIsFine() {
        // Django's foreign keys are checked at the commit: the fault shows only there.
        PostgresSink sink = sink(b -> { });
        write(sink, List.of(
                save("polls.choice", 1, 1, Map.of("question", 7L, "choice_text", "parent comes later")),
                save("polls.choice", 2, 2, Map.of("question", 99L, "choice_text", "no parent")),
                save("polls.question", 7, 3, Map.of("question_text", "seven")),
                save("polls.choice", 1, 4, Map.of("question", 7L, "choice_text", "parent came")),
                save("polls.choice", 3, 5, Map.of("question", 7L, "choice_text", "after"))));
        assertThat(sql("SELECT id, question_id, choice_text FROM polls_choice ORDER BY id"))
                .isEqualTo("1|7|parent came\n3|7|after");
        assertThat(store.list()).extracting(DeadLetter::position, DeadLetter::cause)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(2L, "constraint"));
        assertThat(store.list().get(0).reason()).contains("23503", "99");
    }

    @Test
    void aChildSavedBeforeItsParentUnderAnImmediateForeignKeyIsWrittenNotDeadLettered() {
        sql("CREATE TABLE tree_node (id bigint PRIMARY KEY, parent_id bigint REFERENCES tree_node (id), label text)");
        PostgresSink sink = sink(b -> { });
        write(sink, List.of(
                save("tree.node", 2, 1, Map.of("parent", 1L, "label", "child first")),
                save("tree.node", 3, 2, Map.of("parent", 42L, "label", "orphan")),
                save("tree.node", 1, 3, Map.of("label", "root"))));
        assertThat(sql("SELECT id, parent_id, label FROM tree_node ORDER BY id")).isEqualTo("1||root\n2|1|child first");
        assertThat(store.list()).extracting(DeadLetter::position).containsExactly(2L);
    }

    @Test
    void aBatchIsOneTransaction() {
        PostgresSink sink = sink(b -> { });
        Chunk first = chunk("a", List.of(save("polls.question", 1, 1, Map.of("question_text", "one"))));
        Chunk second = chunk("b", List.of(save("polls.question", 2, 2, Map.of("question_text", "two")),
                save("polls.choice", 1, 3, Map.of("question", 2L, "choice_text", "c"))));
        Chunk third = chunk("a", List.of(delete("polls.question", 1, 4),
                save("polls.question", 3, 5, Map.of("question_text", "three"))));
        sink.writeBatch(List.of(first, second, third)).as(StepVerifier::create).verifyComplete();
        assertThat(sql("SELECT id FROM polls_question ORDER BY id")).isEqualTo("2\n3");
        assertThat(sql("SELECT count(DISTINCT xmin::text) FROM (SELECT xmin FROM polls_question"
                + " UNION ALL SELECT xmin FROM polls_choice UNION ALL SELECT xmin FROM changepipe_tombstones) t"))
                .as("one transaction wrote every row of the batch").isEqualTo("1");

        // All or nothing: a refused item with onBadRecord FAIL leaves nothing of the batch.
        PostgresSink failing = sink(b -> b.onBadRecord(OnBadRecord.FAIL));
        Chunk good = chunk("a", List.of(save("polls.question", 4, 6, Map.of("question_text", "four"))));
        Chunk bad = chunk("b", List.of(save("polls.question", 5, 7, Map.of("question_text", "five", "uuid", "x"))));
        failing.writeBatch(List.of(good, bad)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("'x'"))
                .verify(TIMEOUT);
        assertThat(sql("SELECT id FROM polls_question ORDER BY id")).isEqualTo("2\n3");
        assertThat(store.list()).isEmpty();
    }

    @Test
    void withoutAStoreARefusedItemFailsTheWriteAndWritesNothing() {
        PostgresSink sink = sink(b -> b.deadLetters(null));
        Map<String, Object> nullText = new HashMap<>();
        nullText.put("question_text", null);
        sink.write(chunk("a", List.of(save("polls.question", 1, 1, Map.of("question_text", "one")),
                        save("polls.question", 2, 2, nullText))))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class)
                        .hasMessageContaining("23502")
                        .matches(x -> !((SinkException) x).isRetryable()))
                .verify(TIMEOUT);
        assertThat(sql("SELECT count(*) FROM polls_question")).isEqualTo("0");
    }

    @Test
    void aMissingSchemaIsAFaultOfTheTargetNotABadRecord() {
        PostgresSink sink = sink(b -> b.schema("absent"));
        sink.write(chunk("a", List.of(save("polls.question", 1, 1, Map.of("question_text", "one")))))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class)
                        .hasMessageContaining("absent")
                        .matches(x -> !((SinkException) x).isRetryable()))
                .verify(TIMEOUT);
        assertThat(store.list()).isEmpty();
    }

    private PostgresSink sink(Consumer<PostgresSinkOptions.Builder> settings) {
        PostgresSinkOptions.Builder b = PostgresSinkOptions.builder().url(postgres.r2dbcUrl(db)).deadLetters(store);
        settings.accept(b);
        PostgresSink sink = PostgresSink.create(b.build());
        sinks.add(sink);
        return sink;
    }

    private void write(PostgresSink sink, ChangeItem item) {
        write(sink, List.of(item));
    }

    private void write(PostgresSink sink, List<ChangeItem> items) {
        sink.write(chunk("test", items)).as(StepVerifier::create).verifyComplete();
    }

    private Chunk chunk(String origin, List<ChangeItem> items) {
        return Chunk.of(origin, Offset.of(offsets.incrementAndGet()), items, false);
    }

    private String sql(String sql) {
        return postgres.execute(db, sql).strip();
    }
}
