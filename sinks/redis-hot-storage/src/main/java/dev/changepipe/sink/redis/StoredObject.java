package dev.changepipe.sink.redis;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An object as the hot storage holds it: the latest saved version of one row. Immutable.
 *
 * <p>Values use the types of {@link dev.changepipe.core.ChangeItem}: {@code Long} for integers,
 * {@code BigDecimal} for other numbers, {@code String}, {@code Boolean}, {@code null}, {@code List}
 * and {@code Map}.
 *
 * @param model the model ({@code app.model})
 * @param key the primary key columns and values, as the change carried them ({@code {"id": 5}})
 * @param version the version of the change that wrote it
 * @param fields the saved row
 */
public record StoredObject(String model, Map<String, Object> key, long version, Map<String, Object> fields) {

    public StoredObject {
        Objects.requireNonNull(model, "model");
        key = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(key, "key")));
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(fields, "fields")));
    }
}
