package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Small builders of items and chunks for the tests. */
final class Items {

    private Items() {
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static ChangeItem save(String table, long id, long version, Object... fields) {
        return ChangeItem.update(table, Map.of("id", id), map(fields), version);
    }

    static ChangeItem delete(String table, long id, long version) {
        return ChangeItem.delete(table, Map.of("id", id), version);
    }

    static Chunk chunk(long offset, ChangeItem... items) {
        return Chunk.of("test.log", Offset.of(offset), List.of(items), false);
    }
}
