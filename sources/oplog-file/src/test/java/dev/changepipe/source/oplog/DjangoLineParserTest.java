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
        assertMalformed("1 SAVE {\"model\": \"a.b\", \"pk\": 1}", "expected a JSON array");
        assertMalformed("yesterday SAVE []", "bad unix time");
        assertMalformed("1553597463", "expected '<unix time>");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": {}}, 3", "broken JSON");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 01}]", "broken JSON");
        assertMalformed("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": {\"t\": \"a\tb\"}}]", "broken JSON");
    }

    @Test
    void anElementThatCannotBeAChangeIsRejectedAloneAndTheOthersAreKept() {
        assertRejected("1795000000.2 SAVE [{\"model\": \"polls.choice\", \"pk\": 48}]",
                "element 0 (polls.choice pk 48) is a SAVE without 'fields'");
        assertRejected("1 SAVE [{\"model\": \"polls.choice\", \"pk\": 48, \"fields\": null}]",
                "element 0 (polls.choice pk 48) is a SAVE without 'fields'");
        assertRejected("1 DELETE [{\"model\": \"polls.choice\", \"fields\": {\"t\": 1}}]",
                "element 0 (polls.choice) has no 'pk'");
        assertRejected("1 DELETE [{\"model\": \"polls.choice\", \"pk\": null}]",
                "element 0 (polls.choice) has no 'pk' (null)");
        assertRejected("1 SAVE [{\"pk\": 1, \"fields\": {}}]", "element 0 has no 'model'");
        assertRejected("1 SAVE [3]", "element 0 is not an object");
        assertRejected("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": []}]",
                "element 0 (a.b pk 1) has 'fields' that is not an object");
        assertRejected("1 SAVE [{\"model\": \"a.b\", \"pk\": {\"id\": 1}, \"fields\": {}}]",
                "element 0 (a.b) has a 'pk' that is not a scalar");

        assertRejected("1 SAVE [{\"model\": \"a.b\", \"pk\": \"" + "x".repeat(100) + "\"}]",
                "element 0 (a.b pk " + "x".repeat(64) + "...) is a SAVE without 'fields'");

        OplogLine mixed = line("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": {\"x\": 1}},"
                + " {\"model\": \"a.b\", \"pk\": 2}, {\"model\": \"a.b\", \"pk\": 3, \"fields\": {\"x\": 3}}]");
        List<ChangeItem> items = PARSER.parse(mixed);
        assertThat(items).extracting(ChangeItem::key).containsExactly(Map.of("id", 1L), Map.of("id", 3L));
        assertThat(items.get(1).version()).isEqualTo(mixed.version(2));
        assertThat(mixed.rejections()).containsExactly(
                new OplogLine.Rejection(1, "element 1 (a.b pk 2) is a SAVE without 'fields'"));
    }

    @Test
    void rowsOfATableShareTheirColumnsAndValuesKeepTheirExactTypes() {
        LineParser parser = LineParser.django(Map.of());
        ChangeItem a = parser.parse(line("1 SAVE [{\"model\": \"a.b\", \"pk\": 1, \"fields\": {\"x\": 1, \"y\": \"s\"}}]")).get(0);
        ChangeItem b = parser.parse(line("2 SAVE [{\"model\": \"a.b\", \"pk\": 2, \"fields\": {\"x\": 2.50, \"y\": \"\\u00e9\\n\"}}]")).get(0);
        assertThat(a.values().keySet()).isSameAs(b.values().keySet()).containsExactly("x", "y", "id");
        assertThat(a.key().keySet()).isSameAs(b.key().keySet());
        assertThat(b.values()).containsEntry("x", new BigDecimal("2.50")).containsEntry("y", "\u00e9\n");
        ChangeItem pkFirst = parser.parse(line("3 SAVE [{\"model\": \"a.b\", \"pk\": 3, \"fields\": {\"id\": 9, \"x\": 1, \"x\": 2}}]")).get(0);
        assertThat(pkFirst.values()).isEqualTo(Map.of("id", 3L, "x", 2L));
        assertThat(pkFirst.values().keySet()).containsExactly("id", "x");
    }

    @Test
    void theUnixTimeIsReadExactly() {
        assertThat(DjangoLineParser.parseTime(bytes("1553597463.123456789"), 0, 20))
                .isEqualTo(Instant.ofEpochSecond(1553597463, 123_456_789));
        assertThat(DjangoLineParser.parseTime(bytes("1553597463.1234567891"), 0, 21))
                .isEqualTo(Instant.ofEpochSecond(1553597463, 123_456_789));
        assertThat(DjangoLineParser.parseTime(bytes("15"), 0, 2)).isEqualTo(Instant.ofEpochSecond(15));
        assertThat(DjangoLineParser.parseTime(bytes("1.5e1"), 0, 5)).isEqualTo(Instant.ofEpochSecond(15));
        assertThat(DjangoLineParser.parseTime(bytes("-1.5"), 0, 4)).isEqualTo(Instant.ofEpochMilli(-1500));
        assertThatThrownBy(() -> DjangoLineParser.parseTime(bytes("1.5.5"), 0, 5))
                .isInstanceOf(MalformedLineException.class);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void assertRejected(String text, String reason) {
        OplogLine line = line(text);
        assertThat(PARSER.parse(line)).as(text).isEmpty();
        assertThat(line.rejections()).as(text).containsExactly(new OplogLine.Rejection(0, reason));
    }

    private static void assertMalformed(String text, String reason) {
        assertThatThrownBy(() -> PARSER.parse(line(text))).as(text)
                .isInstanceOf(MalformedLineException.class)
                .satisfies(e -> assertThat(((MalformedLineException) e).reason()).startsWith(reason));
    }
}
