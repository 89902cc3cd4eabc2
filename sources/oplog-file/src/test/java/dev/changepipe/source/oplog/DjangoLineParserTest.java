package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.ChangeItem;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DjangoLineParserTest {

    private static final LineParser PARSER = LineParser.django(Map.of("polls.vote", "uuid"));

    static OplogLine line(String text) {
        byte[] bytes = ("xx" + text).getBytes(StandardCharsets.UTF_8);
        return new OplogLine("test.log", 100, Positions.version(3, 100), bytes, 2, bytes.length - 2);
    }

    @Test
    void saveGivesAnUpdatePerElementWithTheFieldsAndThePk() {
        List<ChangeItem> items = PARSER.parse(line("1553597463.25 SAVE [{\"model\": \"polls.question\", \"pk\": 5,"
                + " \"fields\": {\"question_text\": \"Why?\", \"votes\": 3, \"ratio\": 0.10, \"open\": true, \"tags\": [\"a\"],"
                + " \"meta\": {\"k\": null}}}, {\"model\": \"polls.choice\", \"pk\": 7, \"fields\": {\"question\": 5}}]"));

        assertThat(items).hasSize(2);
        ChangeItem q = items.get(0);
        assertThat(q.kind()).isEqualTo(ChangeItem.Kind.UPDATE);
        assertThat(q.table()).isEqualTo("polls.question");
        assertThat(q.key()).isEqualTo(Map.of("id", 5L));
        assertThat(q.values()).containsEntry("id", 5L).containsEntry("question_text", "Why?")
                .containsEntry("votes", 3L).containsEntry("ratio", new BigDecimal("0.10"))
                .containsEntry("open", true).containsEntry("tags", List.of("a"));
        assertThat(q.values().get("meta")).isEqualTo(java.util.Collections.singletonMap("k", null));
        assertThat(q.commitTime()).isEqualTo(Instant.ofEpochSecond(1553597463, 250_000_000));
        assertThat(q.version()).isEqualTo(Positions.version(3, 100));
        assertThat(items.get(1).version()).isEqualTo(q.version() + 1);
        assertThat(items.get(1).values()).containsEntry("question", 5L).containsEntry("id", 7L);
    }

    @Test
    void deleteGivesADeleteWithTheKeyAndTheFieldsAsImage() {
        List<ChangeItem> items = PARSER.parse(line("1 DELETE [{\"model\": \"polls.question\", \"pk\": 5, \"fields\": {\"t\": \"x\"}},"
                + " {\"model\": \"polls.question\", \"pk\": 6}]"));
        assertThat(items.get(0).kind()).isEqualTo(ChangeItem.Kind.DELETE);
        assertThat(items.get(0).key()).isEqualTo(Map.of("id", 5L));
        assertThat(items.get(0).values()).isEqualTo(Map.of("t", "x", "id", 5L));
        assertThat(items.get(1).values()).isEmpty();
    }

    @Test
    void pkFieldCanBeOverriddenPerModel() {
        ChangeItem vote = PARSER.parse(line("1 SAVE [{\"model\": \"polls.vote\", \"pk\": \"6f0b\", \"fields\": {}}]")).get(0);
        assertThat(vote.key()).isEqualTo(Map.of("uuid", "6f0b"));
        assertThat(vote.values()).isEqualTo(Map.of("uuid", "6f0b"));
    }

    @Test
    void malformedLinesAreRefusedWithAReason() {
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 1", "broken JSON");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 1}] trailing", "broken JSON");
        assertMalformed("1 UPSERT [{\"model\": \"a.b\", \"pk\": 1}]", "unknown operation 'UPSERT'");
        assertMalformed("1 SAVE [{\"pk\": 1}]", "element 0 has no 'model'");
        assertMalformed("1 SAVE [{\"model\": \"a.b\"}]", "element 0 has no 'pk'");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": null}]", "element 0 has no 'pk'");
        assertMalformed("1 SAVE {\"model\": \"a.b\", \"pk\": 1}", "expected a JSON array");
        assertMalformed("1 SAVE [3]", "element 0 is not an object");
        assertMalformed("yesterday SAVE []", "bad unix time");
        assertMalformed("1553597463", "expected '<unix time>");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": []}]", "element 0 has 'fields' that is not an object");
    }

    private static void assertMalformed(String text, String reason) {
        assertThatThrownBy(() -> PARSER.parse(line(text))).as(text)
                .isInstanceOf(MalformedLineException.class)
                .satisfies(e -> assertThat(((MalformedLineException) e).reason()).startsWith(reason));
    }
}
