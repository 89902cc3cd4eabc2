package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * {@code {"op": "insert|update|delete", "table": "...", "key": {...}, "values": {...}, "ts": 1.5}}.
 * Thread safe: every parse thread has its own {@link JsonReader} and layout caches; the keys and the
 * values of one table share a {@link dev.changepipe.core.Columns} layout per field-name sequence. A key
 * with a {@code null} value makes the line malformed (a change must name its row).
 */
final class JsonLinesParser implements LineParser {

    private final Layouts layouts = new Layouts();
    private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

    /** One parse thread's reusable state. */
    private static final class State {
        final JsonReader reader = new JsonReader();
        final Layouts.Local keyLayouts = new Layouts.Local();
        final Layouts.Local valueLayouts = new Layouts.Local();
        final Fields key = new Fields();
        final Fields values = new Fields();
    }

    /** The members of one JSON object, in reusable arrays. */
    private static final class Fields {
        String[] names = new String[16];
        Object[] values = new Object[16];
        int count;
        long size;

        void read(JsonReader r) {
            r.expect('{');
            r.takeAllocated();
            count = 0;
            if (!r.consume('}')) {
                do {
                    if (count == names.length) {
                        names = Arrays.copyOf(names, count * 2);
                        values = Arrays.copyOf(values, count * 2);
                    }
                    names[count] = r.readName();
                    values[count] = r.readValue();
                    count++;
                } while (r.more('}'));
            }
            size = r.takeAllocated();
        }
    }

    @Override
    public List<ChangeItem> parse(OplogLine line) {
        State st = state.get();
        JsonReader r = st.reader;
        byte[] b = line.buffer();
        r.reset(b, line.start(), line.start() + line.length());
        if (r.peek() != '{') {
            if (r.peek() < 0) {
                throw r.broken("unexpected end of input");
            }
            r.skipValue();
            r.expectEnd();
            throw new MalformedLineException("expected a JSON object");
        }
        r.expect('{');
        Object op = null;
        Object table = null;
        boolean hasKey = false;
        boolean keyNotObject = false;
        boolean hasValues = false;
        boolean valuesNotObject = false;
        Instant time = null;
        boolean tsNotNumber = false;
        if (!r.consume('}')) {
            do {
                String name = r.readName();
                switch (name) {
                    case "op" -> op = r.peek() == '"' ? r.readCachedString() : r.readValue();
                    case "table" -> table = r.peek() == '"' ? r.readCachedString() : r.readValue();
                    case "key" -> {
                        if (r.peek() == '{') {
                            st.key.read(r);
                            hasKey = true;
                            keyNotObject = false;
                        } else {
                            keyNotObject = r.readValue() != null;
                            hasKey = false;
                        }
                    }
                    case "values" -> {
                        if (r.peek() == '{') {
                            st.values.read(r);
                            hasValues = true;
                            valuesNotObject = false;
                        } else {
                            valuesNotObject = r.readValue() != null;
                            hasValues = false;
                        }
                    }
                    case "ts" -> {
                        int c = r.peek();
                        if (c == '-' || (c >= '0' && c <= '9')) {
                            int start = r.position();
                            r.readNumber();
                            time = DjangoLineParser.parseTime(b, start, r.position());
                            tsNotNumber = false;
                        } else {
                            tsNotNumber = r.readValue() != null;
                            time = null;
                        }
                    }
                    default -> r.skipValue();
                }
            } while (r.more('}'));
        }
        r.expectEnd();
        r.takeAllocated();
        ChangeItem.Kind kind;
        if ("insert".equals(op)) {
            kind = ChangeItem.Kind.INSERT;
        } else if ("update".equals(op)) {
            kind = ChangeItem.Kind.UPDATE;
        } else if ("delete".equals(op)) {
            kind = ChangeItem.Kind.DELETE;
        } else {
            throw new MalformedLineException(op == null ? "no 'op'"
                    : "unknown operation '" + DjangoLineParser.brief(op) + "' (expected insert, update or delete)");
        }
        if (!(table instanceof String t) || t.isBlank()) {
            throw new MalformedLineException("no 'table'");
        }
        if (!hasKey || keyNotObject || st.key.count == 0) {
            throw new MalformedLineException("no 'key' object");
        }
        for (int i = 0; i < st.key.count; i++) {
            if (st.key.values[i] == null) {
                throw new MalformedLineException("key '" + DjangoLineParser.brief(st.key.names[i]) + "' of "
                        + DjangoLineParser.brief(t) + " is null");
            }
        }
        if (valuesNotObject) {
            throw new MalformedLineException("'values' is not an object");
        }
        if (tsNotNumber) {
            throw new MalformedLineException("'ts' is not a number");
        }
        Layouts.Layout keyLayout = st.keyLayouts.values(layouts, t, st.key.names, st.key.values, st.key.count);
        Map<String, Object> key = keyLayout.columns().row(keyLayout.arrange(st.key.values, st.key.count));
        long size = DjangoLineParser.ITEM_BYTES + DjangoLineParser.ROW_BYTES
                + JsonReader.arraySize(keyLayout.columns().names().size()) + keyLayout.unsharedBytes() + st.key.size;
        Map<String, Object> values = Map.of();
        if (hasValues && st.values.count > 0) {
            Layouts.Layout layout = st.valueLayouts.values(layouts, t, st.values.names, st.values.values,
                    st.values.count);
            values = layout.columns().row(layout.arrange(st.values.values, st.values.count));
            size += DjangoLineParser.ROW_BYTES + JsonReader.arraySize(layout.columns().names().size())
                    + layout.unsharedBytes() + st.values.size;
        }
        return List.of(new ChangeItem(kind, t, key, values, line.version(0), time, JsonReader.heap(size)));
    }
}
