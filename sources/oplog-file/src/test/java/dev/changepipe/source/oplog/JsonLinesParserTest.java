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
    void malformedLinesAreRefusedWithAReason() {
        assertMalformed("{\"op\": \"insert\"", "broken JSON");
        assertMalformed("[1]", "expected a JSON object");
        assertMalformed("{\"op\": \"merge\", \"table\": \"t\", \"key\": {\"id\": 1}}", "unknown operation 'merge'");
        assertMalformed("{\"table\": \"t\", \"key\": {\"id\": 1}}", "no 'op'");
        assertMalformed("{\"op\": \"insert\", \"key\": {\"id\": 1}}", "no 'table'");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {}}", "no 'key'");
        assertMalformed("{\"op\": \"insert\", \"table\": \"t\", \"key\": {\"id\": 1}, \"values\": 3}", "'values' is not an object");
    }

    private static void assertMalformed(String text, String reason) {
        assertThatThrownBy(() -> PARSER.parse(line(text))).as(text)
                .isInstanceOf(MalformedLineException.class)
                .satisfies(e -> assertThat(((MalformedLineException) e).reason()).startsWith(reason));
    }
}
