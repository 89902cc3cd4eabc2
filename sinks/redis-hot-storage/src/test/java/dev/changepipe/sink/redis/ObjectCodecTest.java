package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ObjectCodecTest {

    private final ObjectCodec codec = new ObjectCodec();

    @Test
    void theVersionComesFirstAsAnExactDecimalForTheScripts() throws Exception {
        String json = codec.encode(Long.MAX_VALUE, Map.of("id", 5L), Map.of("name", "x"));
        assertThat(json).startsWith("{\"version\":9223372036854775807,");
        assertThat(codec.decode("a.b", json).version()).isEqualTo(Long.MAX_VALUE);
    }

    @Test
    void valuesRoundTripWithTheChangeItemTypes() throws Exception {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("count", 12L);
        fields.put("price", new BigDecimal("19.90"));
        fields.put("name", "line\nbreak \"quoted\" ü");
        fields.put("active", true);
        fields.put("nothing", null);
        fields.put("tags", Arrays.asList("a", 1L, null));
        fields.put("meta", Map.of("k", 2L));
        StoredObject o = codec.decode("shop.item", codec.encode(3, Map.of("id", 5L), fields));
        assertThat(o.model()).isEqualTo("shop.item");
        assertThat(o.key()).isEqualTo(Map.of("id", 5L));
        assertThat(o.version()).isEqualTo(3);
        assertThat(o.fields()).isEqualTo(fields);
        assertThat(o.fields().get("tags")).isEqualTo(Arrays.asList("a", 1L, null));
        assertThat(o.fields().get("price")).isEqualTo(new BigDecimal("19.90"));
        assertThat(List.copyOf(o.fields().keySet())).containsExactlyElementsOf(fields.keySet());
    }

    /** A typed source (postgres-cdc) hands java.time values and bytes: stored as the text a log line has. */
    @Test
    void typedTimesAreStoredAsIsoTextAndBytesAsBase64() throws Exception {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("created", java.time.LocalDateTime.of(2024, 1, 1, 0, 1, 2));
        fields.put("paid", java.time.OffsetDateTime.of(2024, 1, 1, 0, 1, 2, 0, java.time.ZoneOffset.UTC));
        fields.put("day", java.time.LocalDate.of(2024, 2, 29));
        fields.put("raw", new byte[] {1, 2, 3});
        fields.put("doc", new dev.changepipe.core.JsonValue("{\"n\": 1, \"tags\": [\"a\"]}"));
        StoredObject o = codec.decode("shop.item", codec.encode(3, Map.of("id", 5L), fields));
        assertThat(o.fields()).containsEntry("created", "2024-01-01T00:01:02").containsEntry("paid", "2024-01-01T00:01:02Z")
                .containsEntry("day", "2024-02-29").containsEntry("raw", "AQID")
                .containsEntry("doc", Map.of("n", 1L, "tags", List.of("a")));
    }
}
