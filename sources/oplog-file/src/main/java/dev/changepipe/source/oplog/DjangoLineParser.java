package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code <unix time> SAVE|DELETE <json array of Django-serialized objects>}. Thread safe, stateless. */
final class DjangoLineParser implements LineParser {

    static final String DEFAULT_PK_FIELD = "id";

    private final Map<String, String> pkFields;

    DjangoLineParser(Map<String, String> pkFields) {
        this.pkFields = Map.copyOf(pkFields);
    }

    @Override
    public List<ChangeItem> parse(OplogLine line) {
        byte[] b = line.buffer();
        int end = line.start() + line.length();
        int timeEnd = indexOf(b, line.start(), end, (byte) ' ');
        if (timeEnd < 0) {
            throw new MalformedLineException("expected '<unix time> SAVE|DELETE <json array>'");
        }
        Instant time = parseTime(b, line.start(), timeEnd);
        int opStart = timeEnd + 1;
        int opEnd = indexOf(b, opStart, end, (byte) ' ');
        if (opEnd < 0) {
            throw new MalformedLineException("expected '<unix time> SAVE|DELETE <json array>'");
        }
        ChangeItem.Kind kind;
        if (matches(b, opStart, opEnd, "SAVE")) {
            kind = ChangeItem.Kind.UPDATE;
        } else if (matches(b, opStart, opEnd, "DELETE")) {
            kind = ChangeItem.Kind.DELETE;
        } else {
            throw new MalformedLineException("unknown operation '" + ascii(b, opStart, Math.min(opEnd, opStart + 32))
                    + "' (expected SAVE or DELETE)");
        }
        Object json = Json.read(b, opEnd + 1, end - opEnd - 1);
        if (!(json instanceof List<?> objects)) {
            throw new MalformedLineException("expected a JSON array of objects after the operation");
        }
        List<ChangeItem> items = new ArrayList<>(objects.size());
        for (int i = 0; i < objects.size(); i++) {
            items.add(item(kind, objects.get(i), i, line, time));
        }
        return items;
    }

    private ChangeItem item(ChangeItem.Kind kind, Object element, int index, OplogLine line, Instant time) {
        if (!(element instanceof Map<?, ?> object)) {
            throw new MalformedLineException("element " + index + " is not an object");
        }
        Object model = object.get("model");
        if (!(model instanceof String table) || table.isBlank()) {
            throw new MalformedLineException("element " + index + " has no 'model'");
        }
        if (!object.containsKey("pk") || object.get("pk") == null) {
            throw new MalformedLineException("element " + index + " has no 'pk'");
        }
        Object pk = object.get("pk");
        if (pk instanceof Map || pk instanceof List) {
            throw new MalformedLineException("element " + index + " has a 'pk' that is not a scalar");
        }
        Object fields = object.get("fields");
        if (fields != null && !(fields instanceof Map)) {
            throw new MalformedLineException("element " + index + " has 'fields' that is not an object");
        }
        String pkField = pkFields.getOrDefault(table, DEFAULT_PK_FIELD);
        Map<String, Object> key = Map.of(pkField, pk);
        Map<String, Object> values = new LinkedHashMap<>();
        if (fields != null) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) fields).entrySet()) {
                values.put((String) e.getKey(), e.getValue());
            }
        }
        if (kind.isSave() || !values.isEmpty()) {
            values.put(pkField, pk);
        }
        return new ChangeItem(kind, table, key, values, line.version(index), time,
                ChangeItem.estimateSize(table, key, values));
    }

    private static Instant parseTime(byte[] b, int start, int end) {
        try {
            return Json.unixTime(new BigDecimal(ascii(b, start, end)));
        } catch (NumberFormatException | ArithmeticException | java.time.DateTimeException e) {
            throw new MalformedLineException("bad unix time '" + ascii(b, start, Math.min(end, start + 32)) + "'");
        }
    }

    static int indexOf(byte[] b, int from, int to, byte wanted) {
        for (int i = from; i < to; i++) {
            if (b[i] == wanted) {
                return i;
            }
        }
        return -1;
    }

    private static boolean matches(byte[] b, int start, int end, String word) {
        if (end - start != word.length()) {
            return false;
        }
        for (int i = 0; i < word.length(); i++) {
            if (b[start + i] != word.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static String ascii(byte[] b, int start, int end) {
        return new String(b, start, end - start, java.nio.charset.StandardCharsets.UTF_8);
    }
}
