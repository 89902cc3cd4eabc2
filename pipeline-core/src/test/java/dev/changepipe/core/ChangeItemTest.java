package dev.changepipe.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.AbstractMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ChangeItemTest {

    @Test
    void aRowOfColumnsIsKeptWithoutACopy() {
        Map<String, Object> key = Columns.of("id").row(7L);
        Map<String, Object> values = Columns.of("id", "name", "note").row(7L, "chair", null);
        ChangeItem item = ChangeItem.update("shop.product", key, values, 1);
        assertThat(item.key()).isSameAs(key);
        assertThat(item.values()).isSameAs(values);
    }

    @Test
    void aCallersMutableMapIsCopiedInItsOrder() {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("z", 1L);
        values.put("a", null);
        Map<String, Object> key = new HashMap<>(Map.of("id", 7L));
        ChangeItem item = ChangeItem.insert("t", key, values, 1);
        values.put("z", 2L);
        values.put("b", 3L);
        key.put("id", 8L);
        assertThat(item.values()).containsExactly(Map.entry("z", 1L), new AbstractMap.SimpleEntry<>("a", null));
        assertThat(item.key()).isEqualTo(Map.of("id", 7L));
        assertThatThrownBy(() -> item.values().put("c", 1L)).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void missingOrEmptyValuesBecomeTheEmptyMap() {
        assertThat(ChangeItem.delete("t", Map.of("id", 1L), 1).values()).isSameAs(Map.of());
        assertThat(new ChangeItem(ChangeItem.Kind.DELETE, "t", Map.of("id", 1L), null, 1, null, 1).values())
                .isSameAs(Map.of());
        assertThat(new ChangeItem(ChangeItem.Kind.DELETE, "t", Map.of("id", 1L), new HashMap<>(), 1, null, 1).values())
                .isSameAs(Map.of());
    }

    @Test
    void itemsWithARowAndWithACopyOfTheSameEntriesAreEqual() {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("id", 7L);
        values.put("note", null);
        ChangeItem copied = new ChangeItem(ChangeItem.Kind.INSERT, "t", Map.of("id", 7L), values, 1, null, 100);
        ChangeItem kept = new ChangeItem(ChangeItem.Kind.INSERT, "t", Columns.of("id").row(7L),
                Columns.of("id", "note").row(7L, null), 1, null, 100);
        assertThat(kept).isEqualTo(copied).hasSameHashCodeAs(copied);
        assertThat(copied).isEqualTo(kept);
    }

    @Test
    void theSizeEstimateOfARowIsTheSameAsOfACopy() {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("id", 7L);
        values.put("name", "chair");
        values.put("note", null);
        assertThat(ChangeItem.estimateSize("t", Map.of("id", 7L), Columns.of("id", "name", "note").row(7L, "chair", null)))
                .isEqualTo(ChangeItem.estimateSize("t", Map.of("id", 7L), values));
    }
}
