package dev.changepipe.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class ColumnsTest {

    private static final Columns COLUMNS = Columns.of("id", "name", "price", "note");

    private static Map<String, Object> sample() {
        return COLUMNS.row(7L, "chair", 12.5, null);
    }

    private static Map<String, Object> sameAsLinkedHashMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("id", 7L);
        map.put("name", "chair");
        map.put("price", 12.5);
        map.put("note", null);
        return map;
    }

    @Test
    void aRowKeepsTheColumnOrder() {
        Map<String, Object> row = Columns.of("z", "a", "m").row(1L, 2L, 3L);
        assertThat(row.keySet()).containsExactly("z", "a", "m");
        assertThat(row.values()).containsExactly(1L, 2L, 3L);
        List<String> seen = new ArrayList<>();
        row.forEach((name, value) -> seen.add(name + "=" + value));
        assertThat(seen).containsExactly("z=1", "a=2", "m=3");
        assertThat(row.entrySet()).extracting(Map.Entry::getKey).containsExactly("z", "a", "m");
        assertThat(row).hasToString("{z=1, a=2, m=3}");
    }

    @Test
    void aRowHoldsNullValues() {
        Map<String, Object> row = sample();
        assertThat(row).hasSize(4).containsEntry("note", null);
        assertThat(row.containsKey("note")).isTrue();
        assertThat(row.get("note")).isNull();
        assertThat(row.getOrDefault("note", "default")).isNull();
        assertThat(row.containsValue(null)).isTrue();
    }

    @Test
    void aRowFindsItsValuesByNameAndNothingElse() {
        Map<String, Object> row = sample();
        assertThat(row.get("name")).isEqualTo("chair");
        assertThat(row.get("price")).isEqualTo(12.5);
        assertThat(row.containsKey("missing")).isFalse();
        assertThat(row.get("missing")).isNull();
        assertThat(row.get(null)).isNull();
        assertThat(row.get(42)).isNull();
        assertThat(row.getOrDefault("missing", "default")).isEqualTo("default");
        assertThat(row.entrySet()).contains(Map.entry("id", 7L)).doesNotContain(Map.entry("id", 8L));
    }

    @Test
    void aRowIsEqualToALinkedHashMapWithTheSameEntriesBothWaysAndHasItsHashCode() {
        Map<String, Object> row = sample();
        Map<String, Object> expected = sameAsLinkedHashMap();
        assertThat(row.equals(expected)).isTrue();
        assertThat(expected.equals(row)).isTrue();
        assertThat(row.hashCode()).isEqualTo(expected.hashCode());
        assertThat(row.entrySet()).isEqualTo(expected.entrySet());
        assertThat(row.keySet()).isEqualTo(expected.keySet());
        assertThat(row).isEqualTo(COLUMNS.row(7L, "chair", 12.5, null));
        assertThat(row).isEqualTo(Columns.of("id", "name", "price", "note").row(7L, "chair", 12.5, null));
    }

    @Test
    void aRowDiffersFromAMapWithAnotherValueAMissingKeyOrAnExtraKey() {
        Map<String, Object> row = sample();
        Map<String, Object> otherValue = sameAsLinkedHashMap();
        otherValue.put("note", "x");
        Map<String, Object> nullUnderAnotherName = new HashMap<>(sameAsLinkedHashMap());
        nullUnderAnotherName.remove("note");
        nullUnderAnotherName.put("other", null);
        Map<String, Object> extra = sameAsLinkedHashMap();
        extra.put("extra", 1);
        assertThat(row).isNotEqualTo(otherValue).isNotEqualTo(nullUnderAnotherName).isNotEqualTo(extra);
        assertThat(otherValue).isNotEqualTo(row);
        assertThat(nullUnderAnotherName).isNotEqualTo(row);
        assertThat(row).isNotEqualTo(COLUMNS.row(7L, "chair", 12.5, "x"));
        assertThat(row).isNotEqualTo(Map.of("id", 7L)).isNotEqualTo(List.of());
    }

    @Test
    void aRowRejectsEveryMutationEvenOneThatWouldChangeNothing() {
        Map<String, Object> row = sample();
        List<Consumer<Map<String, Object>>> mutations = List.of(
                m -> m.put("id", 8L),
                m -> m.put("new", 1),
                m -> m.remove("id"),
                m -> m.remove("missing"),
                m -> m.remove("id", 7L),
                Map::clear,
                m -> m.putAll(Map.of()),
                m -> m.putIfAbsent("id", 7L),
                m -> m.replace("id", 8L),
                m -> m.replace("id", 7L, 8L),
                m -> m.replaceAll((k, v) -> v),
                m -> m.computeIfAbsent("id", k -> 1),
                m -> m.computeIfPresent("id", (k, v) -> v),
                m -> m.compute("id", (k, v) -> v),
                m -> m.merge("id", 1, (a, b) -> a),
                m -> m.entrySet().iterator().next().setValue(8L),
                m -> m.entrySet().iterator().remove(),
                m -> m.entrySet().remove(Map.entry("id", 7L)),
                m -> m.entrySet().clear(),
                m -> m.entrySet().removeIf(e -> false),
                m -> m.entrySet().add(Map.entry("x", 1)),
                m -> m.keySet().remove("id"),
                m -> m.keySet().remove("missing"),
                m -> m.keySet().clear(),
                m -> m.keySet().iterator().remove(),
                m -> m.values().remove(7L),
                m -> m.values().remove("missing"),
                m -> m.values().clear(),
                m -> m.values().removeIf(v -> false),
                m -> m.values().iterator().remove());
        for (Consumer<Map<String, Object>> mutation : mutations) {
            assertThatThrownBy(() -> mutation.accept(row)).isInstanceOf(UnsupportedOperationException.class);
        }
        assertThat(row).isEqualTo(sameAsLinkedHashMap());
    }

    @Test
    void aRowIsNotChangedByChangesToTheCallersArray() {
        Object[] values = {7L, "chair", 12.5, null};
        Map<String, Object> row = COLUMNS.row(values);
        values[1] = "table";
        assertThat(row.get("name")).isEqualTo("chair");
    }

    @Test
    void columnsAreNotChangedByChangesToTheCallersArray() {
        String[] names = {"a", "b"};
        Columns columns = Columns.of(names);
        names[0] = "changed";
        assertThat(columns.names()).containsExactly("a", "b");
        assertThat(columns.row(1, 2)).containsOnlyKeys("a", "b");
    }

    @Test
    void aRowWithTheWrongNumberOfValuesIsRefusedWithTheCounts() {
        assertThatThrownBy(() -> COLUMNS.row(1L, "x"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 columns")
                .hasMessageContaining("2 values");
    }

    @Test
    void aDuplicateColumnNameIsRefusedAndNamed() {
        assertThatThrownBy(() -> Columns.of("id", "name", "id"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'id'")
                .hasMessageContaining("0 and 2");
    }

    @Test
    void aNullColumnNameIsRefusedWithItsPosition() {
        assertThatThrownBy(() -> Columns.of("id", null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("column 1");
    }

    @Test
    void noColumnsMakeEmptyRows() {
        Map<String, Object> row = Columns.of().row();
        assertThat(row).isEmpty();
        assertThat(row).isEqualTo(Map.of());
        assertThat(row.hashCode()).isZero();
    }
}
