package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KeyLayoutTest {

    private final KeyLayout layout = new KeyLayout(HotStorageOptions.defaults());

    @Test
    void keysFollowTheDocumentedGrammar() {
        assertThat(layout.objectKey("polls.choice", KeyLayout.pkPart(Map.of("id", 5L)))).isEqualTo("hot:polls.choice:pk:5");
        assertThat(layout.indexesKey("polls.choice", "5")).isEqualTo("hot:polls.choice:pk:5:indexes");
        assertThat(layout.tombstoneKey("polls.choice", "5")).isEqualTo("hot:polls.choice:pk:5:deleted");
        assertThat(layout.allKey("polls.choice")).isEqualTo("hot:polls.choice:all");
        assertThat(layout.uniqueKey("auth.user", UniqueConstraint.of("email"), Map.of("email", "a@b.c")))
                .isEqualTo("hot:auth.user:email:a@b.c");
        assertThat(layout.uniqueKey("polls.choice", UniqueConstraint.of("question", "position"),
                Map.of("question", 7L, "position", 2L)))
                .as("composite: fields sorted by name")
                .isEqualTo("hot:polls.choice:position:2:question:7");
    }

    @Test
    void keyPartsFromDataAreEscapedSoThatNoValueCanForgeAnotherKey() {
        assertThat(KeyLayout.escape("a:b")).isEqualTo("a%3Ab");
        assertThat(KeyLayout.escape("a%3Ab")).as("the escape character itself").isEqualTo("a%253Ab");
        assertThat(KeyLayout.escape("line\nbreak tab\t")).isEqualTo("line%0Abreak%20tab%09");
        assertThat(KeyLayout.escape("{tag},=*?[]\\")).isEqualTo("%7Btag%7D%2C%3D%2A%3F%5B%5D%5C");
        assertThat(KeyLayout.escape("")).isEmpty();
        assertThat(KeyLayout.escape("ünï")).isEqualTo("ünï");
        assertThat(KeyLayout.fieldPart("pk")).as("a field named pk never reads as the pk marker").isEqualTo("%70k");

        // Values built to look like other keys: no key is made by two different inputs.
        List<String> nasty = List.of("", ":", "%", "%3A", "5", "5:indexes", "pk", "pk:5", "all", "a:b", "a", "b",
                "\n", "x\ny", "a,b", "a=b", "{x}", "a=5", "a=5,b=x");
        Map<String, String> madeBy = new HashMap<>();
        for (String m : List.of("app.m", "app.m:pk", "app", "app.m:pk:5", "")) {
            if (m.isEmpty()) {
                continue;
            }
            record(madeBy, layout.allKey(m), "all " + m);
            for (String v : nasty) {
                String pk = KeyLayout.pkPart(Map.of("id", v));
                record(madeBy, layout.objectKey(m, pk), "object " + m + " " + v);
                record(madeBy, layout.indexesKey(m, pk), "indexes " + m + " " + v);
                record(madeBy, layout.tombstoneKey(m, pk), "tombstone " + m + " " + v);
                for (String field : List.of("pk", "all", "f", "f:g", "indexes", ":")) {
                    record(madeBy, layout.uniqueKey(m, UniqueConstraint.of(field), Map.of(field, v)),
                            "unique " + m + " " + field + "=" + v);
                }
                for (String w : nasty) {
                    record(madeBy, layout.uniqueKey(m, UniqueConstraint.of("f", "g"), Map.of("f", v, "g", w)),
                            "unique " + m + " f=" + v + " g=" + w);
                    Map<String, Object> composite = new LinkedHashMap<>();
                    composite.put("a", v);
                    composite.put("b", w);
                    record(madeBy, layout.objectKey(m, KeyLayout.pkPart(composite)), "object " + m + " a=" + v + " b=" + w);
                }
            }
        }
        assertThat(madeBy).hasSizeGreaterThan(3000);
    }

    private static void record(Map<String, String> madeBy, String key, String input) {
        String before = madeBy.putIfAbsent(key, input);
        assertThat(before == null || before.equals(input))
                .as("key %s made by both [%s] and [%s]", key, before, input)
                .isTrue();
    }

    @Test
    void aValueRendersCanonicallySoThatLookupsFindIt() {
        assertThat(KeyLayout.render(5L, "f")).isEqualTo("5");
        assertThat(KeyLayout.render(5, "f")).isEqualTo("5");
        assertThat(KeyLayout.render(new BigDecimal("5.000"), "f")).isEqualTo("5");
        assertThat(KeyLayout.render(new BigDecimal("1E+3"), "f")).isEqualTo("1000");
        assertThat(KeyLayout.render(new BigDecimal("0.00"), "f")).isEqualTo("0");
        assertThat(KeyLayout.render(2.5d, "f")).isEqualTo("2.5");
        assertThat(KeyLayout.render(true, "f")).isEqualTo("true");
        assertThatThrownBy(() -> KeyLayout.render(List.of(1), "tags"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("field tags");
    }

    @Test
    void aNullFieldIsNotIndexedAndANullPrimaryKeyIsRefused() {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("email", null);
        assertThat(layout.uniqueKey("auth.user", UniqueConstraint.of("email"), values)).isNull();
        assertThat(layout.uniqueKey("auth.user", UniqueConstraint.of("email"), Map.of())).isNull();
        Map<String, Object> key = new LinkedHashMap<>();
        key.put("id", null);
        assertThatThrownBy(() -> KeyLayout.pkPart(key)).hasMessageContaining("primary key column id is null");
    }

    @Test
    void aCompositePrimaryKeyListsItsColumnsSortedAndALookupMapFindsIt() {
        Map<String, Object> key = new LinkedHashMap<>();
        key.put("b", "x,y");
        key.put("a", 1L);
        assertThat(KeyLayout.pkPart(key)).isEqualTo("a=1,b=x%2Cy");
        assertThat(KeyLayout.pkPartOf(Map.of("a", 1, "b", "x,y"))).isEqualTo("a=1,b=x%2Cy");
        assertThat(KeyLayout.pkPartOf(Map.of("id", 9))).isEqualTo(KeyLayout.pkPartOf(9L));
    }

    @Test
    void theModelHashTagPutsEveryKeyOfAModelInOneSlot() {
        KeyLayout tagged = new KeyLayout(HotStorageOptions.builder().modelHashTag(true).build());
        assertThat(tagged.objectKey("a.b", "1")).isEqualTo("hot:{a.b}:pk:1");
        assertThat(tagged.uniqueKey("a.b", UniqueConstraint.of("f"), Map.of("f", "{x}")))
                .as("braces in data are escaped, so the first {...} is always the model")
                .isEqualTo("hot:{a.b}:f:%7Bx%7D");
        assertThat(tagged.allKey("{a}")).isEqualTo("hot:{%7Ba%7D}:all");
    }
}
