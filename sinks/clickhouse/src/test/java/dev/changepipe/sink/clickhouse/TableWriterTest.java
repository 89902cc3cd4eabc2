package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.ChangeItem;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TableWriterTest {

    private static final ClickHouseSinkOptions OPTIONS = ClickHouseSinkOptions.builder().endpoints("http://h:8123").build();

    private static TableWriter table() {
        return new TableWriter(OPTIONS, "app.model", "app_model", WriteMode.COLLAPSING, List.of(
                new TableWriter.Column("id", ColumnType.parse("UInt64"), false),
                new TableWriter.Column("name", ColumnType.parse("String"), false),
                new TableWriter.Column("version", ColumnType.parse("UInt64"), false),
                new TableWriter.Column("sign", ColumnType.parse("Int8"), false)));
    }

    /** The collapsing mode keys its maps by these strings: a million keys in buckets of eight would chain. */
    @Test
    void keysOfConsecutiveIntegersAreDistinctAndHashApart() {
        TableWriter table = table();
        int[] id = {0};
        Set<String> keys = new HashSet<>();
        Set<Integer> hashes = new HashSet<>();
        for (long i = 1; i <= 200_000; i++) {
            String key = table.keyOf(new Object[] {i, "n"}, id);
            keys.add(key);
            hashes.add(key.hashCode());
        }
        assertThat(keys).hasSize(200_000);
        assertThat(hashes.size()).isGreaterThan(195_000);
    }

    @Test
    void equalKeyValuesGiveEqualKeysWhateverTheOtherColumns() {
        TableWriter table = table();
        int[] id = {0};
        assertThat(table.keyOf(new Object[] {42L, "a"}, id)).isEqualTo(table.keyOf(new Object[] {42L, "b"}, id));
        assertThat(table.keyOf(new Object[] {42L, "a"}, id)).isNotEqualTo(table.keyOf(new Object[] {43L, "a"}, id));
        int[] both = {0, 1};
        assertThat(table.keyOf(new Object[] {1L, "ab"}, both)).isNotEqualTo(table.keyOf(new Object[] {1L, "a"}, both));
    }

    /**
     * Key and tombstone columns are computed once per set of key fields and reused: items keyed by other
     * fields of the same table still get their own, and an unknown key field is still refused.
     */
    @Test
    void keyAndTombstoneColumnsFollowEachItemsKeyFields() {
        TableWriter table = new TableWriter(OPTIONS, "app.model", "app_model", WriteMode.REPLACING, List.of(
                new TableWriter.Column("id", ColumnType.parse("UInt64"), false),
                new TableWriter.Column("name", ColumnType.parse("String"), false),
                new TableWriter.Column("region", ColumnType.parse("String"), false),
                new TableWriter.Column("version", ColumnType.parse("UInt64"), false),
                new TableWriter.Column("is_deleted", ColumnType.parse("UInt8"), false)), Set.of("id", "region"));
        ChangeItem byId = ChangeItem.delete("app.model", Map.of("id", 1L), 1);
        ChangeItem byName = ChangeItem.delete("app.model", Map.of("name", "a"), 2);
        ChangeItem byIdAndRegion = ChangeItem.delete("app.model", Map.of("region", "eu", "id", 3L), 3);
        for (int round = 0; round < 2; round++) {
            assertThat(table.keyColumns(byId)).containsExactly(0);
            assertThat(table.tombstoneColumns(byId)).containsExactly(2);
            assertThat(table.keyColumns(byName)).containsExactly(1);
            assertThat(table.tombstoneColumns(byName)).containsExactly(0, 2);
            assertThat(table.keyColumns(byIdAndRegion)).containsExactly(0, 2);
            assertThat(table.tombstoneColumns(byIdAndRegion)).isEmpty();
        }
        ChangeItem unknown = ChangeItem.delete("app.model", Map.of("nope", 1L), 4);
        assertThatThrownBy(() -> table.keyColumns(unknown)).hasMessageContaining("the key field nope has no column");
        assertThatThrownBy(() -> table.keyColumns(unknown)).hasMessageContaining("the key field nope has no column");
    }
}
