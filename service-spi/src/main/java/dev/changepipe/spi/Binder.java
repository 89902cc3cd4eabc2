package dev.changepipe.spi;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationConfig;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.deser.ValueInstantiator;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleDeserializers;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Binds a section of the configuration into a record with Jackson, and gathers every problem instead
 * of stopping at the first: an unknown key (naming the known ones), a value of the wrong type, a
 * missing required key, an integer out of its {@link Key} range. Each problem names its path.
 *
 * <p>Jackson does the structure (records, lists, mappings, unknown keys); the scalar types are read
 * here, in the configuration's own forms ({@code 64MiB}, {@code 500ms}, {@code follow-mode}), so that a
 * bad value is a problem with a message a user can act on, and the binding goes on.
 */
final class Binder {

    private static final String PROBLEMS = "changepipe.problems";
    private static final String PATH = "changepipe.path";

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
            .addModule(module())
            .addHandler(new Problems())
            .build();

    private Binder() {
    }

    private static SimpleModule module() {
        SimpleModule module = new SimpleModule("changepipe-config");
        module.setDeserializers(new Scalars());
        return module;
    }

    /**
     * Binds {@code node} (a mapping at {@code path}, without the keys in {@code skip}) into {@code type},
     * adding every problem to {@code problems}: the value as far as it could be bound (a key in error
     * binds to null, so takes its default), or null when not even the mapping could be read.
     */
    static <T> T bind(String path, JsonNode node, Set<String> skip, Class<T> type, List<ConfigException.Problem> problems) {
        JsonNode input = node;
        if (node.isObject() && !skip.isEmpty()) {
            ObjectNode copy = ((ObjectNode) node).deepCopy();
            skip.forEach(copy::remove);
            input = copy;
        }
        int before = problems.size();
        List<ConfigException.Problem> found = new ArrayList<>();
        ObjectReader reader = MAPPER.readerFor(type).withAttribute(PROBLEMS, found).withAttribute(PATH, path);
        T value = null;
        try {
            value = reader.readValue(input);
        } catch (IOException | RuntimeException e) {
            // what the handler could not turn into a problem
            found.add(new ConfigException.Problem(path, "cannot be read: " + e.getMessage()));
        }
        if (value != null) {
            check(path, value, found);
        }
        problems.addAll(before, found);
        return value;
    }

    /** The checks {@link Key} declares, on the bound value, recursively; skips paths that already failed. */
    private static void check(String path, Object value, List<ConfigException.Problem> problems) {
        if (value instanceof Record record) {
            for (RecordComponent c : record.getClass().getRecordComponents()) {
                String at = join(path, c.getName());
                Object v;
                try {
                    java.lang.reflect.Method accessor = c.getAccessor();
                    accessor.setAccessible(true); // the connectors' records are package-private
                    v = accessor.invoke(record);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException("cannot read " + c, e);
                }
                Key key = c.getAnnotation(Key.class);
                if (key != null && !failedAt(at, problems)) {
                    if (key.required() && isEmpty(v)) {
                        problems.add(new ConfigException.Problem(at, "required: " + key.value()));
                    } else if (v instanceof Number n && (n.longValue() < key.min() || n.longValue() > key.max())) {
                        problems.add(new ConfigException.Problem(at, "expected an integer from " + bound(key.min())
                                + " to " + bound(key.max()) + ", got " + n));
                    }
                }
                check(at, v, problems);
            }
        } else if (value instanceof Map<?, ?> map) {
            map.forEach((k, v) -> check(path + "." + k, v, problems));
        } else if (value instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                check(path + "[" + i + "]", list.get(i), problems);
            }
        }
    }

    private static String bound(long b) {
        return b == Long.MIN_VALUE ? "" + Integer.MIN_VALUE : b == Long.MAX_VALUE ? "" + Integer.MAX_VALUE : Long.toString(b);
    }

    private static boolean failedAt(String path, List<ConfigException.Problem> problems) {
        for (ConfigException.Problem p : problems) {
            if (p.path().equals(path) || p.path().startsWith(path + ".") || p.path().startsWith(path + "[")) {
                return true;
            }
        }
        return false;
    }

    static boolean isEmpty(Object v) {
        return v == null || v instanceof String s && s.isEmpty() || v instanceof Collection<?> c && c.isEmpty()
                || v instanceof Map<?, ?> m && m.isEmpty();
    }

    static String join(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** Where the parser is, from the section's path down. */
    private static String path(DeserializationContext ctxt, JsonParser p) {
        Deque<String> parts = new ArrayDeque<>();
        JsonStreamContext at = p.getParsingContext();
        if (p.currentToken() == JsonToken.START_OBJECT || p.currentToken() == JsonToken.START_ARRAY) {
            at = at.getParent(); // the value is the mapping or list just entered
        }
        for (JsonStreamContext c = at; c != null && !c.inRoot(); c = c.getParent()) {
            if (c.inObject() && c.getCurrentName() != null) {
                parts.push("." + c.getCurrentName());
            } else if (c.inArray() && c.getCurrentIndex() >= 0) {
                parts.push("[" + c.getCurrentIndex() + "]");
            }
        }
        StringBuilder b = new StringBuilder((String) ctxt.getAttribute(PATH));
        parts.forEach(b::append);
        return b.length() > 0 && b.charAt(0) == '.' ? b.substring(1) : b.toString();
    }

    @SuppressWarnings("unchecked")
    private static void problem(DeserializationContext ctxt, String path, String message) {
        ((List<ConfigException.Problem>) ctxt.getAttribute(PROBLEMS)).add(new ConfigException.Problem(path, message));
    }

    /** Records a problem at the parser's position, skips the value, and binds null in its place. */
    private static <T> T refuse(DeserializationContext ctxt, JsonParser p, String expected) throws IOException {
        String got = describe(p);
        problem(ctxt, path(ctxt, p), "expected " + expected + ", got " + got);
        p.skipChildren();
        return null;
    }

    private static String describe(JsonParser p) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.START_OBJECT || t == JsonToken.FIELD_NAME) {
            return "a mapping";
        }
        if (t == JsonToken.START_ARRAY) {
            return "a list";
        }
        String text = p.getText();
        return "'" + (text.length() > 60 ? text.substring(0, 60) + "..." : text) + "'";
    }

    private static boolean isScalar(JsonParser p) {
        JsonToken t = p.currentToken();
        return t != null && t.isScalarValue() && t != JsonToken.VALUE_NULL;
    }

    /** What a type is, as the problems and the docs say it. */
    static String expected(JavaType type) {
        Class<?> raw = type.getRawClass();
        if (raw == String.class) {
            return "a string";
        }
        if (Record.class.isAssignableFrom(raw) || Map.class.isAssignableFrom(raw)) {
            return "a mapping (key: value)";
        }
        if (Collection.class.isAssignableFrom(raw)) {
            return "a list";
        }
        return "a " + raw.getSimpleName();
    }

    /** The configuration's forms of the scalar types. */
    private static final class Scalars extends SimpleDeserializers {

        Scalars() {
            addDeserializer(String.class, new Scalar<>("a string") {
                @Override
                String read(String text) {
                    return text;
                }
            });
            addDeserializer(Integer.class, new Scalar<>("an integer") {
                @Override
                Integer read(String text) {
                    String t = text.trim();
                    if (!t.matches("-?\\d{1,10}")) {
                        return null;
                    }
                    long n = Long.parseLong(t);
                    return n < Integer.MIN_VALUE || n > Integer.MAX_VALUE ? null : (int) n;
                }
            });
            addDeserializer(Long.class, new Scalar<>("an integer") {
                @Override
                Long read(String text) {
                    String t = text.trim();
                    return t.matches("-?\\d{1,18}") ? Long.parseLong(t) : null;
                }
            });
            addDeserializer(Boolean.class, new Scalar<>("true or false") {
                @Override
                Boolean read(String text) {
                    String t = text.trim().toLowerCase(Locale.ROOT);
                    return t.equals("true") || t.equals("false") ? Boolean.valueOf(t) : null;
                }
            });
            addDeserializer(Duration.class, new Scalar<>("a positive duration such as 500ms, 30s, 5m or PT1M") {
                @Override
                Duration read(String text) {
                    Duration d = Settings.parseDuration(text.trim());
                    return d == null || d.isNegative() || d.isZero() ? null : d;
                }
            });
            addDeserializer(java.nio.file.Path.class, new Scalar<>("a path") {
                @Override
                java.nio.file.Path read(String text) {
                    try {
                        return text.isEmpty() ? null : java.nio.file.Path.of(text);
                    } catch (java.nio.file.InvalidPathException e) {
                        return null;
                    }
                }
            });
            addDeserializer(DataSize.class, new Scalar<>("a positive size such as 64MiB, 512KiB or 1048576") {
                @Override
                DataSize read(String text) {
                    long bytes = Settings.parseBytes(text.trim());
                    return bytes <= 0 ? null : new DataSize(bytes);
                }
            });
        }

        @Override
        @SuppressWarnings({"unchecked", "rawtypes"})
        public JsonDeserializer<?> findEnumDeserializer(Class<?> type, DeserializationConfig config, BeanDescription beanDesc) {
            return new EnumScalar(type);
        }
    }

    /** A scalar read from its text; anything else (a mapping, a list, a text it refuses) is a problem. */
    private abstract static class Scalar<T> extends JsonDeserializer<T> {

        private final String expected;

        Scalar(String expected) {
            this.expected = expected;
        }

        /** The value of {@code text}, or null when it is not one. */
        abstract T read(String text);

        String expected() {
            return expected;
        }

        @Override
        public T deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            if (!isScalar(p)) {
                return refuse(ctxt, p, expected());
            }
            T value = read(p.getText());
            return value != null ? value : refuse(ctxt, p, expected());
        }
    }

    /** An enumeration's constant, case-insensitively, {@code -} for {@code _}. */
    private static final class EnumScalar<E extends Enum<E>> extends Scalar<E> {

        private final Class<E> type;

        EnumScalar(Class<E> type) {
            super(null);
            this.type = type;
        }

        @Override
        E read(String text) {
            String wanted = text.trim().replace('-', '_');
            for (E e : type.getEnumConstants()) {
                if (e.name().equalsIgnoreCase(wanted)) {
                    return e;
                }
            }
            return null;
        }

        @Override
        String expected() {
            return "one of " + String.join(", ", names(type));
        }
    }

    /** The constants of an enumeration as a configuration writes them: {@code row-binary}. */
    static List<String> names(Class<?> type) {
        List<String> names = new ArrayList<>();
        for (Object e : type.getEnumConstants()) {
            names.add(((Enum<?>) e).name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        return names;
    }

    /** Turns what Jackson itself refuses into problems, and goes on. */
    private static final class Problems extends DeserializationProblemHandler {

        @Override
        public boolean handleUnknownProperty(DeserializationContext ctxt, JsonParser p, JsonDeserializer<?> deserializer,
                Object beanOrClass, String propertyName) throws IOException {
            Set<String> known = new TreeSet<>();
            Collection<Object> names = deserializer.getKnownPropertyNames();
            if (names != null) {
                names.forEach(n -> known.add(String.valueOf(n)));
            }
            // the parser is at the key's value, so the path ends with the key
            problem(ctxt, path(ctxt, p), "unknown key; expected one of: " + (known.isEmpty() ? "(none)" : String.join(", ", known)));
            p.skipChildren();
            return true;
        }

        @Override
        public Object handleUnexpectedToken(DeserializationContext ctxt, JavaType targetType, JsonToken t, JsonParser p,
                String failureMsg) throws IOException {
            return refuse(ctxt, p, expected(targetType));
        }

        @Override
        public Object handleMissingInstantiator(DeserializationContext ctxt, Class<?> instClass, ValueInstantiator valueInsta,
                JsonParser p, String msg) throws IOException {
            return refuse(ctxt, p, expected(ctxt.constructType(instClass)));
        }

        @Override
        public Object handleWeirdStringValue(DeserializationContext ctxt, Class<?> targetType, String valueToConvert,
                String failureMsg) throws IOException {
            return refuse(ctxt, ctxt.getParser(), expected(ctxt.constructType(targetType)));
        }

        @Override
        public Object handleWeirdNumberValue(DeserializationContext ctxt, Class<?> targetType, Number valueToConvert,
                String failureMsg) throws IOException {
            return refuse(ctxt, ctxt.getParser(), expected(ctxt.constructType(targetType)));
        }

        @Override
        public Object handleInstantiationProblem(DeserializationContext ctxt, Class<?> instClass, Object argument,
                Throwable t) {
            problem(ctxt, path(ctxt, ctxt.getParser()), String.valueOf(t.getMessage()));
            return null;
        }
    }
}
