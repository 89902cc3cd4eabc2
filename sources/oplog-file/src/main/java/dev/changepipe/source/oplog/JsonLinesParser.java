package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code {"op": "insert|update|delete", "table": "...", "key": {...}, "values": {...}, "ts": 1.5}}.
 * Thread safe, stateless.
 */
final class JsonLinesParser implements LineParser {

    @Override
    public List<ChangeItem> parse(OplogLine line) {
        Object json = Json.read(line.buffer(), line.start(), line.length());
        if (!(json instanceof Map<?, ?> object)) {
            throw new MalformedLineException("expected a JSON object");
        }
        ChangeItem.Kind kind;
        Object op = object.get("op");
        if ("insert".equals(op)) {
            kind = ChangeItem.Kind.INSERT;
        } else if ("update".equals(op)) {
            kind = ChangeItem.Kind.UPDATE;
        } else if ("delete".equals(op)) {
            kind = ChangeItem.Kind.DELETE;
        } else {
            throw new MalformedLineException(op == null ? "no 'op'"
                    : "unknown operation '" + op + "' (expected insert, update or delete)");
        }
        if (!(object.get("table") instanceof String table) || table.isBlank()) {
            throw new MalformedLineException("no 'table'");
        }
        if (!(object.get("key") instanceof Map<?, ?> keyObject) || keyObject.isEmpty()) {
            throw new MalformedLineException("no 'key' object");
        }
        Object valuesObject = object.get("values");
        if (valuesObject != null && !(valuesObject instanceof Map)) {
            throw new MalformedLineException("'values' is not an object");
        }
        Instant time = null;
        Object ts = object.get("ts");
        if (ts instanceof Number n) {
            time = Json.unixTime(n instanceof BigDecimal d ? d : BigDecimal.valueOf(n.longValue()));
        } else if (ts != null) {
            throw new MalformedLineException("'ts' is not a number");
        }
        Map<String, Object> key = strings(keyObject);
        Map<String, Object> values = valuesObject == null ? Map.of() : strings((Map<?, ?>) valuesObject);
        return List.of(new ChangeItem(kind, table, key, values, line.version(0), time,
                ChangeItem.estimateSize(table, key, values)));
    }

    private static Map<String, Object> strings(Map<?, ?> map) {
        Map<String, Object> copy = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            copy.put((String) e.getKey(), e.getValue());
        }
        return copy;
    }
}
