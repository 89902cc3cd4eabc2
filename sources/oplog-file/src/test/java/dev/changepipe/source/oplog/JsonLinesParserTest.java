package dev.changepipe.source.oplog;

import static dev.changepipe.source.oplog.DjangoLineParserTest.line;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.ChangeItem;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonLinesParserTest {

    private static final LineParser PARSER = LineParser.jsonLines();

    @Test
    void eachOperationGivesOneItem() {
        ChangeItem insert = PARSER.parse(line("{\"op\": \"insert\", \"table\": \"shop.order\", \"key\": {\"id\": 1},"
                + " \"values\": {\"id\": 1, \"total\": 12.50}, \"ts\": 1700000000}")).get(0);
        assertThat(insert.kind()).isEqualTo(ChangeItem.Kind.INSERT);
        assertThat(insert.table()).isEqualTo("shop.order");
        assertThat(insert.key()).isEqualTo(Map.of("id", 1L));
        assertThat(insert.values()).containsEntry("total", new BigDecimal("12.50"));
        assertThat(insert.commitTime()).isEqualTo(Instant.ofEpochSecond(1700000000));
        assertThat(insert.version()).isEqualTo(Positions.version(3, 100));

        assertThat(PARSER.parse(line("{\"op\": \"update\", \"table\": \"t\", \"key\": {\"id\": 1}}")).get(0).kind())
                .isEqualTo(ChangeItem.Kind.UPDATE);
        ChangeItem delete = PARSER.parse(line("{\"op\": \"delete\", \"table\": \"t\", \"key\": {\"a\": 1, \"b\": \"x\"}}")).get(0);
        assertThat(delete.kind()).isEqualTo(ChangeItem.Kind.DELETE);
        assertThat(delete.key()).isEqualTo(Map.of("a", 1L, "b", "x"));
        assertThat(delete.values()).isEmpty();
        assertThat(delete.commitTime()).isNull();
    }

    @Test
    void rowsOfATableShareTheirColumnsAndTheTimeMayHaveDecimals() {
        LineParser parser = LineParser.jsonLines();
        ChangeItem a = parser.parse(line("{\"op\": \"update\", \"table\": \"t\", \"key\": {\"id\": 1}, \"values\": {\"id\": 1, \"v\": 2},"
                + " \"ts\": 1700000000.25}")).get(0);
        ChangeItem b = parser.parse(line("{\"ts\": 3, \"values\": {\"id\": 2, \"v\": null}, \"key\": {\"id\": 2}, \"table\": \"t\","
                + " \"op\": \"insert\"}")).get(0);
        assertThat(a.values().keySet()).isSameAs(b.values().keySet());
        assertThat(a.key().keySet()).isSameAs(b.key().keySet());
        assertThat(a.commitTime()).isEqualTo(Instant.ofEpochSecond(1700000000, 250_000_000));
        assertThat(b.values()).containsEntry("v", null).containsEntry("id", 2L);
        assertThat(b.commitTime()).isEqualTo(Instant.ofEpochSecond(3));
    }

    @Test
    void malformedLinesAreRefusedWithAReason() {
        assertMalformed("{\"op\": \"insert\"", "broken JSON");
        assertMalformed("[1]", "expected a JSON object");
        assertMalformed("{\"op\": \"merge\", \"table\": \"t\", \"key\": {\"id\": 1}}", "unknown operation 'merge'");
        assertMalformed("{\"table\": \"t\", \"key\": {\"id\": 1}}", "no 'op'");
        assertMalformed("{\"op\": \"insert\", \"key\": {\"id\": 1}}", "no 'table'");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {}}", "no 'key'");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {\"id\": 1}, \"values\": 3}", "'values' is not an object");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\"}", "no 'key'");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": null}", "no 'key'");
        assertMalformed("{\"op\": \"delete\", \"table\": \"t\", \"key\": {\"id\": null}}", "key 'id' of t is null");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {\"id\": 1}, \"ts\": \"x\"}", "'ts' is not a number");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {\"id\": 1}} {}", "broken JSON");
    }

    private static void assertMalformed(String text, String reason) {
        assertThatThrownBy(() -> PARSER.parse(line(text))).as(text)
                .isInstanceOf(MalformedLineException.class)
                .satisfies(e -> assertThat(((MalformedLineException) e).reason()).startsWith(reason));
    }
}
