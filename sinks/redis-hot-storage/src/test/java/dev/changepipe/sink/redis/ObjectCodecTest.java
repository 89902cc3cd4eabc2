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
}
