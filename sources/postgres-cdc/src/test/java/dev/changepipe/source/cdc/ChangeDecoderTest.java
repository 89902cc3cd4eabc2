package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.source.cdc.ChangeDecoder.Committed;
import dev.changepipe.source.cdc.ChangeDecoder.Element;
import dev.changepipe.source.cdc.ChangeDecoder.Row;
import dev.changepipe.source.cdc.PgOutput.Begin;
import dev.changepipe.source.cdc.PgOutput.Change;
import dev.changepipe.source.cdc.PgOutput.Column;
import dev.changepipe.source.cdc.PgOutput.Commit;
import dev.changepipe.source.cdc.PgOutput.Relation;
import dev.changepipe.source.cdc.PgOutput.Tuple;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The decoder without a server: versions, collapsing within a transaction, key changes, TOAST. */
class ChangeDecoderTest {

    private static final TableShape ORDERS = new TableShape(new TableName("public", "orders"),
            new String[] {"id", "name", "note"}, new int[] {TextValues.INT8, 25, 25},
            new String[] {"bigint", "text", "text"}, new int[] {0});
    private static final Relation RELATION = new Relation(7, "public", "orders", 'd', List.of(
            new Column("id", TextValues.INT8, -1, true), new Column("name", 25, -1, false), new Column("note", 25, -1, false)));

    private final ChangeDecoder decoder = new ChangeDecoder(Map.of("public.orders", ORDERS), 3, 1L << 20);

    private List<Element> run(Object... messages) {
        List<Element> out = new ArrayList<>();
        for (Object m : messages) {
            out.addAll(decoder.accept((PgOutput.Message) m));
        }
        return out;
    }

    private static Change insert(String... values) {
        return new Change('I', 7, null, new Tuple(values));
    }

    private static Change update(String[] old, String... values) {
        return new Change('U', 7, old == null ? null : new Tuple(old), new Tuple(values));
    }

    private static Change delete(String id) {
        return new Change('D', 7, new Tuple(new String[] {id, null, null}), null);
    }

    private static List<Row> rows(List<Element> elements) {
        return elements.stream().filter(Row.class::isInstance).map(Row.class::cast).toList();
    }

    @Test
    void aKeysVersionsGrowInCommitOrderAndAreTheSameWhenReadAgain() {
        Object[] stream = {RELATION, new Begin(0x100, 0, 1), insert("1", "a", "x"), new Commit(0x100, 0x120, 0),
                new Begin(0x200, 0, 2), update(null, "1", "b", "x"), new Commit(0x200, 0x220, 0)};
        List<Element> first = run(stream);
        List<Row> rows = rows(first);
        assertThat(rows).extracting(Row::version).containsExactly(0x100L << 12, 0x200L << 12);
        assertThat(first).filteredOn(Committed.class::isInstance).extracting(e -> ((Committed) e).endLsn())
                .containsExactly(0x120L, 0x220L);
        List<Row> again = replay(stream);
        assertThat(again).extracting(Row::version).containsExactlyElementsOf(rows.stream().map(Row::version).toList());
    }

    private static List<Row> replay(Object[] stream) {
        ChangeDecoder d = new ChangeDecoder(Map.of("public.orders", ORDERS), 3, 1L << 20);
        List<Element> out = new ArrayList<>();
        for (Object m : stream) {
            out.addAll(d.accept((PgOutput.Message) m));
        }
        return rows(out);
    }

    @Test
    void withinATransactionAKeyKeepsItsLastChange() {
        List<Row> rows = rows(run(RELATION, new Begin(0x300, 0, 3), insert("1", "a", "x"), update(null, "1", "b", "x"),
                insert("2", "c", "y"), delete("2"), new Commit(0x300, 0x320, 0)));
        assertThat(rows).extracting(r -> r.keyText()[0] + ":" + r.kind()).containsExactly("1:U", "2:D");
        assertThat(rows.get(0).values()).containsExactly(1L, "b", "x");
    }

    @Test
    void aLargeTransactionIsSlicedAndEachSliceTakesItsNumber() {
        List<Element> out = run(RELATION, new Begin(0x400, 0, 4), insert("1", "a", "x"), insert("2", "a", "x"));
        assertThat(out).isEmpty();
        out = run(insert("3", "a", "x"));
        assertThat(rows(out)).extracting(Row::version).containsOnly(0x400L << 12);
        out = run(update(null, "1", "again", "x"), new Commit(0x400, 0x420, 0));
        assertThat(rows(out)).extracting(Row::version).containsExactly((0x400L << 12) | 1);
    }

    @Test
    void aSliceIsAlsoCutByTheBytesItsRowsHold() {
        ChangeDecoder small = new ChangeDecoder(Map.of("public.orders", ORDERS), 1000, 10_000);
        String big = "x".repeat(6_000); // 12,000 bytes as chars: one row fills a slice
        List<Element> out = new ArrayList<>();
        for (Object m : new Object[] {RELATION, new Begin(0x800, 0, 8), insert("1", "a", big), insert("2", "a", big),
                new Commit(0x800, 0x820, 0)}) {
            out.addAll(small.accept((PgOutput.Message) m));
        }
        assertThat(rows(out)).extracting(Row::version).containsExactly(0x800L << 12, (0x800L << 12) | 1);
    }

    @Test
    void anUpdateThatChangesTheKeyDeletesTheOldKey() {
        List<Row> rows = rows(run(RELATION, new Begin(0x500, 0, 5),
                update(new String[] {"3", null, null}, "30003", "n", "x"), new Commit(0x500, 0x520, 0)));
        assertThat(rows).extracting(r -> r.keyText()[0] + ":" + r.kind()).containsExactly("3:D", "30003:U");
    }

    @Test
    void anUnchangedToastValueComesFromTheOldRowOrTheSameKeysEarlierChangeElseIsMarked() {
        String u = PgOutput.UNCHANGED;
        List<Row> rows = rows(run(RELATION, new Begin(0x600, 0, 6),
                update(new String[] {"1", "old", "big note"}, "1", "new", u),
                insert("2", "a", "second note"), update(null, "2", "b", u),
                update(null, "3", "c", u), new Commit(0x600, 0x620, 0)));
        assertThat(rows.get(0).values()).containsExactly(1L, "new", "big note");
        assertThat(rows.get(0).unchanged()).isNull();
        assertThat(rows.get(1).values()).containsExactly(2L, "b", "second note");
        assertThat(rows.get(2).unchanged()).as("read from the table before the chunk goes out").isNotNull();
        assertThat(rows.get(2).unchanged().get(2)).isTrue();
    }

    @Test
    void aTableThatGainsAColumnIsReportedBeforeItsRowsOfTheNewShape() {
        Relation wider = new Relation(7, "public", "orders", 'd', List.of(new Column("id", TextValues.INT8, -1, true),
                new Column("name", 25, -1, false), new Column("note", 25, -1, false),
                new Column("score", TextValues.NUMERIC, (10 << 16 | 3) + 4, false)));
        List<Element> out = run(RELATION, new Begin(0x900, 0, 9), insert("1", "a", "x"), new Commit(0x900, 0x920, 0),
                new Begin(0xA00, 0, 10), wider, new Change('I', 7, null, new Tuple(new String[] {"2", "b", "y", "1.500"})),
                new Commit(0xA00, 0xA20, 0));
        List<Element> second = out.subList(out.indexOf(out.stream().filter(Committed.class::isInstance).findFirst()
                .orElseThrow()) + 1, out.size());
        assertThat(second.get(0)).isInstanceOf(ChangeDecoder.Reshaped.class);
        ChangeDecoder.Reshaped reshaped = (ChangeDecoder.Reshaped) second.get(0);
        assertThat(reshaped.added()).containsExactly(3);
        assertThat(TextValues.column("score", TextValues.NUMERIC, (10 << 16 | 3) + 4).scale()).isEqualTo(3);
        assertThat(((Row) second.get(1)).values()).containsExactly(2L, "b", "y", new java.math.BigDecimal("1.500"));
    }

    @Test
    void changesOfOtherTablesAreSkipped() {
        Relation other = new Relation(8, "public", "other", 'd', RELATION.columns());
        List<Element> out = run(RELATION, other, new Begin(0x700, 0, 7), new Change('I', 8, null,
                new Tuple(new String[] {"1", "a", "x"})), new Commit(0x700, 0x720, 0));
        assertThat(rows(out)).isEmpty();
        assertThat(out).hasSize(1).first().isInstanceOf(Committed.class);
    }
}
