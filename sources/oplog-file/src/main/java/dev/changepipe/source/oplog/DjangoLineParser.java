package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Columns;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code <unix time> SAVE|DELETE <json array of Django-serialized objects>}. Thread safe: every parse
 * thread has its own {@link JsonReader} and layout cache; the rows of one model share a {@link Columns}
 * layout per field-name sequence.
 *
 * <p>A line that cannot be read (bad time, unknown operation, broken JSON, not an array) is malformed
 * as a whole. An element that cannot become a change (not an object, no model, no or a null pk, a SAVE
 * without {@code "fields"}) is {@linkplain OplogLine#reject rejected} alone; the line's other elements
 * are kept.
 */
final class DjangoLineParser implements LineParser {

    static final String DEFAULT_PK_FIELD = "id";

    private final Map<String, String> pkFields;
    private final Layouts layouts = new Layouts();
    private final ThreadLocal<State> state = ThreadLocal.withInitial(State::new);

    DjangoLineParser(Map<String, String> pkFields) {
        this.pkFields = Map.copyOf(pkFields);
    }

    /** One parse thread's reusable state. */
    private static final class State {
        final JsonReader reader = new JsonReader();
        final Layouts.Local layouts = new Layouts.Local();
        String[] names = new String[16];
        Object[] values = new Object[17];
    }

    @Override
    public List<ChangeItem> parse(OplogLine line) {
        byte[] b = line.buffer();
        int end = line.start() + line.length();
        int timeEnd = Bytes.indexOf(b, line.start(), end, (byte) ' ');
        if (timeEnd < 0) {
            throw new MalformedLineException("expected '<unix time> SAVE|DELETE <json array>'");
        }
        Instant time = parseTime(b, line.start(), timeEnd);
        int opStart = timeEnd + 1;
        int opEnd = Bytes.indexOf(b, opStart, end, (byte) ' ');
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
        State st = state.get();
        JsonReader r = st.reader;
        r.reset(b, opEnd + 1, end);
        if (r.peek() != '[') {
            if (r.peek() >= 0) {
                r.skipValue();
                r.expectEnd();
            } else {
                throw r.broken("unexpected end of input");
            }
            throw new MalformedLineException("expected a JSON array of objects after the operation");
        }
        r.expect('[');
        List<ChangeItem> items = new ArrayList<>(2);
        if (!r.consume(']')) {
            int index = 0;
            do {
                String problem = element(st, kind, index, line, time, items);
                if (problem != null) {
                    line.reject(index, problem);
                }
                index++;
            } while (r.more(']'));
        }
        r.expectEnd();
        return items;
    }

    /** Reads one element; adds its item, or returns why it cannot be one. */
    private String element(State st, ChangeItem.Kind kind, int index, OplogLine line, Instant time,
            List<ChangeItem> items) {
        JsonReader r = st.reader;
        if (r.peek() != '{') {
            r.skipValue();
            return "element " + index + " is not an object";
        }
        r.expect('{');
        r.takeAllocated();
        Object model = null;
        Object pk = null;
        boolean hasPk = false;
        long pkSize = 0;
        boolean hasFields = false;
        boolean fieldsNotObject = false;
        int count = 0;
        long fieldsSize = 0;
        if (!r.consume('}')) {
            do {
                String name = r.readName();
                switch (name) {
                    case "model" -> {
                        model = r.peek() == '"' ? r.readCachedString() : r.readValue();
                        r.takeAllocated();
                    }
                    case "pk" -> {
                        hasPk = true;
                        pk = r.readValue();
                        pkSize = r.takeAllocated();
                    }
                    case "fields" -> {
                        int c = r.peek();
                        if (c == '{') {
                            count = readFields(st);
                            hasFields = true;
                            fieldsNotObject = false;
                            fieldsSize = r.takeAllocated();
                        } else if (c == 'n') {
                            r.skipValue();
                            hasFields = false;
                            count = 0;
                        } else {
                            r.skipValue();
                            fieldsNotObject = true;
                        }
                    }
                    default -> r.skipValue();
                }
            } while (r.more('}'));
        }
        if (!(model instanceof String table) || table.isBlank()) {
            return "element " + index + " has no 'model'";
        }
        if (!hasPk || pk == null) {
            return "element " + index + " (" + brief(table) + ") has no 'pk'" + (hasPk ? " (null)" : "");
        }
        if (pk instanceof Map || pk instanceof List) {
            return "element " + index + " (" + brief(table) + ") has a 'pk' that is not a scalar";
        }
        if (fieldsNotObject) {
            return "element " + index + " (" + brief(table) + " pk " + brief(pk) + ") has 'fields' that is not an object";
        }
        if (kind.isSave() && !hasFields) {
            return "element " + index + " (" + brief(table) + " pk " + brief(pk) + ") is a SAVE without 'fields'";
        }
        String pkField = pkFields.getOrDefault(table, DEFAULT_PK_FIELD);
        Columns keyColumns = st.layouts.key(layouts, pkField);
        Map<String, Object> key = keyColumns.row(pk);
        long size = ITEM_BYTES + ROW_BYTES + JsonReader.arraySize(1) + pkSize + fieldsSize;
        Map<String, Object> values;
        if (kind.isSave() || count > 0) {
            String[] names = st.names;
            Object[] vals = st.values;
            int pkAt = -1;
            for (int i = 0; i < count; i++) {
                if (pkField.equals(names[i])) {
                    pkAt = i;
                    break;
                }
            }
            int n = count;
            if (pkAt >= 0) {
                vals[pkAt] = pk;
            } else {
                names[n] = pkField;
                vals[n] = pk;
                n++;
            }
            Layouts.Layout layout = st.layouts.values(layouts, table, names, vals, n);
            values = layout.columns().row(layout.arrange(vals, n));
            size += ROW_BYTES + JsonReader.arraySize(layout.columns().names().size()) + layout.unsharedBytes();
        } else {
            values = Map.of();
        }
        items.add(new ChangeItem(kind, table, key, values, line.version(index), time, JsonReader.heap(size)));
        return null;
    }

    /** A value from the data as a reason names it: at most 64 characters, control characters escaped. */
    static String brief(Object value) {
        String text = String.valueOf(value);
        StringBuilder out = new StringBuilder(Math.min(text.length(), 70));
        for (int i = 0; i < text.length() && i < 64; i++) {
            char c = text.charAt(i);
            out.append(c < 0x20 ? ' ' : c);
        }
        return text.length() > 64 ? out.append("...").toString() : out.toString();
    }

    /**
     * The heap of an item apart from its key and values: the record (48 bytes), its commit time (an
     * {@code Instant}, 24; shared by the items of a line, charged to each) and its slot in the chunk's
     * list (8).
     */
    static final long ITEM_BYTES = 48 + 24 + 8;

    /** A row of {@code Columns} without its value array (an {@code AbstractMap} with two references more). */
    static final long ROW_BYTES = 32;

    /** Reads the {@code "fields"} object into the state's arrays; returns how many fields. */
    private static int readFields(State st) {
        JsonReader r = st.reader;
        r.expect('{');
        int count = 0;
        if (r.consume('}')) {
            return 0;
        }
        do {
            if (count + 1 >= st.names.length) {
                st.names = java.util.Arrays.copyOf(st.names, st.names.length * 2);
                st.values = java.util.Arrays.copyOf(st.values, st.values.length * 2 + 1);
            }
            st.names[count] = r.readName();
            st.values[count] = r.readValue();
            count++;
        } while (r.more('}'));
        return count;
    }

    /** Unix seconds, {@code digits[.digits]} read directly; other forms (a sign, an exponent) exactly. */
    static Instant parseTime(byte[] b, int start, int end) {
        long seconds = 0;
        int i = start;
        while (i < end && b[i] >= '0' && b[i] <= '9' && i - start < 18) {
            seconds = seconds * 10 + (b[i] - '0');
            i++;
        }
        if (i > start && (i == end || b[i] == '.')) {
            long nanos = 0;
            boolean fast = true;
            if (i < end) {
                int fracStart = ++i;
                while (i < end && b[i] >= '0' && b[i] <= '9') {
                    if (i - fracStart < 9) {
                        nanos = nanos * 10 + (b[i] - '0');
                    }
                    i++;
                }
                fast = i == end && i > fracStart;
                for (int k = i - fracStart; k < 9; k++) {
                    nanos *= 10;
                }
            }
            if (fast) {
                try {
                    return Instant.ofEpochSecond(seconds, nanos);
                } catch (java.time.DateTimeException e) {
                    throw badTime(b, start, end);
                }
            }
        }
        try {
            return Json.unixTime(new BigDecimal(ascii(b, start, end)));
        } catch (NumberFormatException | ArithmeticException | java.time.DateTimeException e) {
            throw badTime(b, start, end);
        }
    }

    private static MalformedLineException badTime(byte[] b, int start, int end) {
        return new MalformedLineException("bad unix time '" + ascii(b, start, Math.min(end, start + 32)) + "'");
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
