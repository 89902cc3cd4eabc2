package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.spi.Connection;
import dev.changepipe.spi.DataSize;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.SinkProvider;
import dev.changepipe.spi.SourceProvider;
import java.lang.reflect.Constructor;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The option tables of docs/options.md (and of the {@code options} command), made from the key
 * registries: the records the service's file and every source, sink and connection type bind to,
 * with their {@link Key}s. A key's type, default (what the record makes of an absent key) and meaning
 * are written once, in its record.
 */
final class OptionTables {

    private OptionTables() {
    }

    /** The whole page: the service's keys, each source and sink type's, each kind of connection's. */
    static String markdown(List<SourceProvider> sources, List<SinkProvider> sinks) {
        StringBuilder b = new StringBuilder();
        b.append("# Configuration options\n\n")
                .append("Every key of the configuration file, generated from the records the service and each\n")
                .append("connector bind their sections to (`@Key` on a record component: type, default, meaning).\n")
                .append("`OptionTablesTest` fails when this page and the code differ; `changepipe options` prints\n")
                .append("these tables for the types installed, plugins included. How values are written (sizes,\n")
                .append("durations, `${ENV}`) and how errors are reported: [service.md](service.md#configuration).\n");
        Map<String, Class<?>> connections = new LinkedHashMap<>();
        b.append("\n## The service's keys\n\n");
        table(b, ServiceConfig.File.class, connections);
        b.append("\n## Sources\n");
        for (SourceProvider p : sources.stream().sorted(java.util.Comparator.comparing(SourceProvider::type)).toList()) {
            b.append("\n### `").append(p.type()).append("`\n\n");
            table(b, p.options(), connections);
        }
        b.append("\n## Sinks\n");
        for (SinkProvider p : sinks.stream().sorted(java.util.Comparator.comparing(SinkProvider::type)).toList()) {
            b.append("\n### `").append(p.type()).append("`\n\n");
            table(b, p.options(), connections);
        }
        b.append("\n## Connections\n");
        for (Map.Entry<String, Class<?>> e : connections.entrySet()) {
            b.append("\n### `connections.").append(e.getKey()).append(".<name>`\n\n");
            table(b, e.getValue(), new LinkedHashMap<>());
        }
        return b.toString();
    }

    private static void table(StringBuilder b, Class<?> type, Map<String, Class<?>> connections) {
        List<String[]> rows = new ArrayList<>();
        rows(type, "", rows, connections);
        b.append("| key | type | default | meaning |\n|---|---|---|---|\n");
        if (rows.isEmpty()) {
            b.append("| (none) | | | |\n");
        }
        for (String[] r : rows) {
            b.append("| `").append(r[0]).append("` | ").append(r[1]).append(" | ").append(r[2]).append(" | ")
                    .append(r[3]).append(" |\n");
        }
    }

    private static void rows(Class<?> type, String prefix, List<String[]> rows, Map<String, Class<?>> connections) {
        Object defaults = defaults(type);
        for (RecordComponent c : type.getRecordComponents()) {
            Key key = c.getAnnotation(Key.class);
            if (key == null) {
                throw new IllegalStateException(type.getName() + "." + c.getName() + " has no @Key");
            }
            String name = prefix + c.getName();
            Type generic = c.getGenericType();
            Class<?> nested = nestedRecord(generic);
            if (isSection(c.getType())) {
                rows(c.getType(), name + ".", rows, connections);
                continue;
            }
            if (nested != null) {
                rows(nested, name + (List.class.isAssignableFrom(c.getType()) ? "[]." : ".<name>."), rows, connections);
                continue;
            }
            String meaning = escape(key.value());
            if (key.connection() != Void.class) {
                Connection kind = key.connection().getAnnotation(Connection.class);
                Class<?> earlier = connections.putIfAbsent(kind.value(), key.connection());
                if (earlier != null && !sameKeys(earlier, key.connection())) {
                    throw new IllegalStateException("two records of connections." + kind.value() + " differ: "
                            + earlier.getName() + " and " + key.connection().getName());
                }
                meaning += " (a name under `connections." + kind.value() + "`)";
            }
            rows.add(new String[] {name, describe(generic, key), defaultOf(c, key, defaults), meaning});
        }
    }

    private static boolean sameKeys(Class<?> a, Class<?> b) {
        return names(a).equals(names(b));
    }

    private static List<String> names(Class<?> record) {
        List<String> names = new ArrayList<>();
        for (RecordComponent c : record.getRecordComponents()) {
            names.add(c.getName());
        }
        return names;
    }

    /** The record of a {@code Map<String, R>} or {@code List<R>}, or null. */
    private static Class<?> nestedRecord(Type type) {
        if (type instanceof ParameterizedType p) {
            Type[] args = p.getActualTypeArguments();
            Type element = args[args.length - 1];
            if (element instanceof Class<?> c && isSection(c)) {
                return c;
            }
        }
        return null;
    }

    /** A record of keys (not a value such as {@link DataSize}). */
    private static boolean isSection(Class<?> type) {
        return type.isRecord() && Arrays.stream(type.getRecordComponents()).anyMatch(c -> c.isAnnotationPresent(Key.class));
    }

    /** What the record makes of a mapping with no keys at all. */
    private static Object defaults(Class<?> type) {
        try {
            RecordComponent[] components = type.getRecordComponents();
            Class<?>[] types = new Class<?>[components.length];
            for (int i = 0; i < components.length; i++) {
                types[i] = components[i].getType();
            }
            Constructor<?> canonical = type.getDeclaredConstructor(types);
            canonical.setAccessible(true);
            return canonical.newInstance(new Object[components.length]);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make " + type.getName() + " of no keys", e);
        }
    }

    private static String defaultOf(RecordComponent c, Key key, Object defaults) {
        if (!key.defaultText().isEmpty()) {
            return escape(key.defaultText());
        }
        if (key.required()) {
            return "required";
        }
        Object v;
        try {
            java.lang.reflect.Method accessor = c.getAccessor();
            accessor.setAccessible(true);
            v = accessor.invoke(defaults);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
        if (v == null || v instanceof Collection<?> l && l.isEmpty() || v instanceof Map<?, ?> m && m.isEmpty()) {
            return "none";
        }
        if (v instanceof Duration d) {
            return "`" + duration(d) + "`";
        }
        if (v instanceof Enum<?> e) {
            return "`" + e.name().toLowerCase(Locale.ROOT).replace('_', '-') + "`";
        }
        return "`" + v + "`";
    }

    /** As a configuration writes it: {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 1d}. */
    static String duration(Duration d) {
        long ms = d.toMillis();
        long[] units = {86_400_000L, 3_600_000L, 60_000L, 1000L};
        String[] names = {"d", "h", "m", "s"};
        for (int i = 0; i < units.length; i++) {
            if (ms % units[i] == 0) {
                return ms / units[i] + names[i];
            }
        }
        return ms + "ms";
    }

    private static String describe(Type type, Key key) {
        if (type instanceof ParameterizedType p) {
            Class<?> raw = (Class<?>) p.getRawType();
            Type[] args = p.getActualTypeArguments();
            if (List.class.isAssignableFrom(raw)) {
                return "list of " + plural(args[0]);
            }
            return "mapping of names to " + plural(args[1]);
        }
        Class<?> c = (Class<?>) type;
        if (c == Integer.class || c == Long.class) {
            boolean min = key.min() != Long.MIN_VALUE;
            boolean max = key.max() != Long.MAX_VALUE;
            return min && max ? "integer, " + key.min() + " to " + key.max()
                    : min ? "integer, at least " + key.min() : max ? "integer, at most " + key.max() : "integer";
        }
        if (c.isEnum()) {
            List<String> names = new ArrayList<>();
            for (Object e : c.getEnumConstants()) {
                names.add("`" + ((Enum<?>) e).name().toLowerCase(Locale.ROOT).replace('_', '-') + "`");
            }
            return String.join(", ", names);
        }
        return singular(c);
    }

    private static String singular(Class<?> c) {
        if (c == String.class) {
            return "string";
        }
        if (c == Boolean.class) {
            return "true, false";
        }
        if (c == Duration.class) {
            return "duration";
        }
        if (c == DataSize.class) {
            return "size";
        }
        if (c == Path.class) {
            return "path";
        }
        if (JsonNode.class.isAssignableFrom(c)) {
            return "mapping";
        }
        return c.getSimpleName();
    }

    private static String plural(Type t) {
        if (t instanceof ParameterizedType p) {
            return describe(p, null).replaceFirst("^list", "lists").replaceFirst("^mapping", "mappings");
        }
        return switch (singular((Class<?>) t)) {
            case "string" -> "strings";
            case "mapping" -> "mappings";
            case "duration" -> "durations";
            default -> singular((Class<?>) t);
        };
    }

    private static String escape(String text) {
        return text.replace("|", "\\|");
    }
}
