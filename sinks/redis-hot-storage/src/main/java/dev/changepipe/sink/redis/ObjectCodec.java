package dev.changepipe.sink.redis;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;
import dev.changepipe.core.JsonValue;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import java.time.temporal.Temporal;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The stored form of an object: {@code {"version":N,"key":{...},"fields":{...}}}, with the version
 * first so that the Lua scripts read it with one anchored pattern, and written as an exact decimal
 * (Lua's numbers are doubles; the scripts compare versions as digit strings). Read back with the
 * value types of {@link dev.changepipe.core.ChangeItem} ({@code Long}, {@code BigDecimal}...); a
 * {@code java.time} value is stored as its ISO-8601 text, {@code byte[]} as base64, and read back so; a
 * {@link JsonValue} is embedded as the document it holds.
 * Thread-safe.
 */
final class ObjectCodec {

    private static final TypeReference<LinkedHashMap<String, Object>> MAP = new TypeReference<>() { };

    private final ObjectMapper mapper = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            // the java.time values of a typed source (postgres-cdc), as ISO-8601 text: what a log line holds
            .registerModule(new SimpleModule().addSerializer(Temporal.class, ToStringSerializer.instance)
                    // a JSON document (postgres-cdc's json columns) embedded as such
                    .addSerializer(JsonValue.class, new StdSerializer<>(JsonValue.class) {
                        @Override
                        public void serialize(JsonValue value, JsonGenerator out, SerializerProvider provider)
                                throws java.io.IOException {
                            out.writeRawValue(value.text());
                        }
                    }));

    String encode(long version, Map<String, Object> key, Map<String, Object> fields) throws JsonProcessingException {
        Map<String, Object> doc = new LinkedHashMap<>(4);
        doc.put("version", version);
        doc.put("key", key);
        doc.put("fields", fields);
        return mapper.writeValueAsString(doc);
    }

    @SuppressWarnings("unchecked")
    StoredObject decode(String model, String json) throws JsonProcessingException {
        Map<String, Object> doc = mapper.readValue(json, MAP);
        Object version = doc.get("version");
        Object key = doc.get("key");
        Object fields = doc.get("fields");
        if (!(version instanceof Long v) || !(key instanceof Map) || !(fields instanceof Map)) {
            throw new IllegalStateException("not a hot storage object of " + model
                    + ": expected version, key and fields");
        }
        return new StoredObject(model, (Map<String, Object>) key, v, (Map<String, Object>) fields);
    }
}
