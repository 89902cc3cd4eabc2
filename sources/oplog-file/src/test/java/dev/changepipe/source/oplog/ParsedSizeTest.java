package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.GraphLayout;

/**
 * The {@code sizeBytes} of parsed items against the heap they really hold, measured by JOL: the
 * pusher charges a chunk's parsed size to its memory bound, so it must not be under the truth (nor
 * far over it). What rows share (their columns, the table name) is not part of a row's heap: the
 * per-row heap is the growth from {@value #ROWS} to twice as many rows.
 */
class ParsedSizeTest {

    static final int ROWS = 500;

    static {
        System.setProperty("jol.magicFieldOffset", "true"); // ChangeItem is a record
    }

    @Test
    void djangoItemsReportTheHeapTheyHold() {
        assertSizeIsRealistic(LineParser.django(Map.of()), i -> (1700000000 + i) + ".25 SAVE [{\"model\": \"polls.question\","
                + " \"pk\": " + (1000 + i) + ", \"fields\": {\"uuid\": \"6f0b2c1e-4f5a-4e8e-9d3b-" + String.format("%012d", i)
                + "\", \"question_text\": \"Qu\u00e9 es " + i + "?\", \"score\": 12.5, \"votes\": " + (1000 + i)
                + ", \"open\": true, \"tags\": [\"a\", \"b\"], \"meta\": {\"k\": " + i + "}, \"none\": null}}]");
        assertSizeIsRealistic(LineParser.django(Map.of()), i -> "1 DELETE [{\"model\": \"polls.question\", \"pk\": " + (1000 + i)
                + "}]");
    }

    @Test
    void jsonLinesItemsReportTheHeapTheyHold() {
        assertSizeIsRealistic(LineParser.jsonLines(), i -> "{\"op\": \"update\", \"table\": \"polls.question\", \"key\": {\"id\": "
                + (1000 + i) + "}, \"values\": {\"id\": " + (1000 + i) + ", \"question_text\": \"What is question " + i
                + "?\", \"score\": 12.5, \"votes\": " + (1000 + i) + "}, \"ts\": " + (1700000000 + i) + "}");
    }

    private static void assertSizeIsRealistic(LineParser parser, LongFunction<String> lines) {
        List<ChangeItem> some = parse(parser, lines, 0, ROWS);
        List<ChangeItem> twice = new ArrayList<>(some);
        twice.addAll(parse(parser, lines, ROWS, 2 * ROWS));
        long measuredPerRow = (GraphLayout.parseInstance(twice).totalSize()
                - GraphLayout.parseInstance(some).totalSize()) / ROWS;
        long reportedPerRow = twice.subList(ROWS, 2 * ROWS).stream().mapToLong(ChangeItem::sizeBytes).sum() / ROWS;
        assertThat(reportedPerRow).as("reported bytes per row, measured " + measuredPerRow)
                .isGreaterThanOrEqualTo(measuredPerRow)
                .isLessThanOrEqualTo(measuredPerRow * 13 / 10);
    }

    private static List<ChangeItem> parse(LineParser parser, LongFunction<String> lines, int from, int to) {
        List<ChangeItem> items = new ArrayList<>();
        for (int i = from; i < to; i++) {
            byte[] b = lines.apply(i).getBytes(StandardCharsets.UTF_8);
            items.addAll(parser.parse(OplogLine.of("t.log", i, Positions.version(1, i * 1000L), b, 0, b.length)));
        }
        return items;
    }
}
