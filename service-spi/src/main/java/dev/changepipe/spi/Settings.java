package dev.changepipe.spi;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One mapping of the YAML configuration (a pipeline's {@code source:}, one of its {@code sinks:}, a
 * connection...), with typed getters that know where they are in the file. Environment variables
 * are already substituted.
 *
 * <p>Every getter fails with a {@link ConfigException} whose path names the key
 * ({@code pipelines[0].source.pollInterval}) and whose message says what was expected. The keys read
 * are remembered: {@link #checkNoUnknownKeys()} then refuses the keys nobody asked for (a typo is an
 * error, not a silently ignored setting), naming the keys that are known.
 *
 * <p>Sizes accept {@code 64MiB}, {@code 512KiB}, {@code 1GiB} (also {@code KB}, {@code MB}, {@code GB}
 * as powers of 1024) or plain bytes; durations {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h} or ISO
 * 8601 ({@code PT30S}). Enumerations are matched case-insensitively, with {@code -} for {@code _}.
 *
 * <p>Not thread-safe: a configuration is read on one thread, once.
 */
public final class Settings {

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([KMGT]?i?B?)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)", Pattern.CASE_INSENSITIVE);

    private final String path;
    private final JsonNode node;
    private final Set<String> read = new LinkedHashSet<>();

    private Settings(String path, JsonNode node) {
        this.path = path;
        this.node = node;
    }

    /**
     * Settings of a mapping at {@code path} (the service reads the file; a provider makes settings of a
     * part of its section it maps itself); fails when {@code node} is not a mapping.
     */
    public static Settings of(String path, JsonNode node) {
        if (node == null || node.isNull()) {
            return new Settings(path, com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode());
        }
        if (!node.isObject()) {
            throw new ConfigException(path, "expected a mapping (key: value), got " + describe(node));
        }
        return new Settings(path, node);
    }

    /** Where this mapping is in the file, e.g. {@code pipelines[0].source}. */
    public String path() {
        return path;
    }

    /** The path of one key of this mapping. */
    public String pathOf(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    /** Whether the key is present (and not null). */
    public boolean has(String key) {
        read.add(key);
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    /** The keys present, in file order. */
    public List<String> keys() {
        List<String> keys = new ArrayList<>();
        node.fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    /** A required string (numbers and booleans are taken as their text). */
    public String string(String key) {
        return optionalString(key).orElseThrow(() -> new ConfigException(pathOf(key), "required, expected a string"));
    }

    /** A string, or {@code defaultValue} when absent. */
    public String string(String key, String defaultValue) {
        return optionalString(key).orElse(defaultValue);
    }

    /** A string when present. An empty string counts as present. */
    public Optional<String> optionalString(String key) {
        JsonNode v = value(key);
        if (v == null) {
            return Optional.empty();
        }
        if (!v.isValueNode()) {
            throw new ConfigException(pathOf(key), "expected a string, got " + describe(v));
        }
        return Optional.of(v.asText());
    }

    /** An integer in {@code [min, max]}, or {@code defaultValue} when absent. */
    public int integer(String key, int defaultValue, int min, int max) {
        JsonNode v = value(key);
        if (v == null) {
            return defaultValue;
        }
        long n;
        if (v.isIntegralNumber()) {
            n = v.asLong();
        } else if (v.isTextual() && v.asText().trim().matches("-?\\d{1,18}")) {
            n = Long.parseLong(v.asText().trim());
        } else {
            throw new ConfigException(pathOf(key), "expected an integer, got " + describe(v));
        }
        if (n < min || n > max) {
            throw new ConfigException(pathOf(key), "expected an integer from " + min + " to " + max + ", got " + n);
        }
        return (int) n;
    }

    /** A boolean ({@code true}/{@code false}), or {@code defaultValue} when absent. */
    public boolean bool(String key, boolean defaultValue) {
        JsonNode v = value(key);
        if (v == null) {
            return defaultValue;
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        String t = v.asText().trim().toLowerCase(Locale.ROOT);
        if (t.equals("true") || t.equals("false")) {
            return Boolean.parseBoolean(t);
        }
        throw new ConfigException(pathOf(key), "expected true or false, got " + describe(v));
    }

    /** A positive size in bytes ({@code 64MiB}, {@code 1048576}), or {@code defaultValue} when absent. */
    public long bytes(String key, long defaultValue) {
        JsonNode v = value(key);
        if (v == null) {
            return defaultValue;
        }
        long bytes = parseBytes(v.asText().trim());
        if (!v.isValueNode() || bytes <= 0) {
            throw new ConfigException(pathOf(key),
                    "expected a positive size such as 64MiB, 512KiB or 1048576, got " + describe(v));
        }
        return bytes;
    }

    /** A positive duration ({@code 30s}, {@code 500ms}, {@code PT1M}), or {@code defaultValue} when absent. */
    public Duration duration(String key, Duration defaultValue) {
        JsonNode v = value(key);
        if (v == null) {
            return defaultValue;
        }
        Duration d = v.isValueNode() ? parseDuration(v.asText().trim()) : null;
        if (d == null || d.isNegative() || d.isZero()) {
            throw new ConfigException(pathOf(key),
                    "expected a positive duration such as 500ms, 30s, 5m or PT1M, got " + describe(v));
        }
        return d;
    }

    /** One of an enumeration's constants (case-insensitive, {@code -} for {@code _}). */
    public <E extends Enum<E>> E choice(String key, Class<E> type, E defaultValue) {
        JsonNode v = value(key);
        if (v == null) {
            return defaultValue;
        }
        String wanted = v.asText().trim().replace('-', '_');
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(wanted)) {
                return e;
            }
        }
        List<String> names = new ArrayList<>();
        for (E e : type.getEnumConstants()) {
            names.add(e.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        throw new ConfigException(pathOf(key), "expected one of " + String.join(", ", names) + ", got " + describe(v));
    }

    /** A list of strings (a single string counts as a list of one); empty when absent. */
    public List<String> strings(String key) {
        JsonNode v = value(key);
        List<String> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (v.isValueNode()) {
            out.add(v.asText());
            return out;
        }
        if (!v.isArray()) {
            throw new ConfigException(pathOf(key), "expected a list of strings, got " + describe(v));
        }
        for (int i = 0; i < v.size(); i++) {
            JsonNode e = v.get(i);
            if (!e.isValueNode() || e.isNull()) {
                throw new ConfigException(pathOf(key) + "[" + i + "]", "expected a string, got " + describe(e));
            }
            out.add(e.asText());
        }
        return out;
    }

    /** A mapping of strings to strings; empty when absent. */
    public Map<String, String> stringMap(String key) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Settings> e : children(key).entrySet()) {
            throw new ConfigException(e.getValue().path(), "expected a string, got a mapping");
        }
        JsonNode v = value(key);
        if (v != null) {
            v.fields().forEachRemaining(f -> out.put(f.getKey(), f.getValue().asText()));
        }
        return out;
    }

    /** A nested mapping; an empty one when absent. */
    public Settings child(String key) {
        return Settings.of(pathOf(key), value(key));
    }

    /** A nested mapping when present. */
    public Optional<Settings> optionalChild(String key) {
        JsonNode v = value(key);
        return v == null ? Optional.empty() : Optional.of(Settings.of(pathOf(key), v));
    }

    /** A list of mappings; empty when absent. */
    public List<Settings> list(String key) {
        JsonNode v = value(key);
        List<Settings> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (!v.isArray()) {
            throw new ConfigException(pathOf(key), "expected a list (lines starting with '- '), got " + describe(v));
        }
        for (int i = 0; i < v.size(); i++) {
            out.add(Settings.of(pathOf(key) + "[" + i + "]", v.get(i)));
        }
        return out;
    }

    /**
     * A mapping of names to mappings (for example {@code connections.clickhouse}); empty when absent.
     * Values that are scalars are left to {@link #stringMap}; here they are an error.
     */
    public Map<String, Settings> children(String key) {
        JsonNode v = value(key);
        Map<String, Settings> out = new LinkedHashMap<>();
        if (v == null) {
            return out;
        }
        if (!v.isObject()) {
            throw new ConfigException(pathOf(key), "expected a mapping of names, got " + describe(v));
        }
        v.fields().forEachRemaining(f -> {
            if (f.getValue().isObject() || f.getValue().isNull()) {
                out.put(f.getKey(), Settings.of(pathOf(key) + "." + f.getKey(), f.getValue()));
            }
        });
        return out;
    }

    /**
     * Fails when the mapping holds a key that no getter asked for, naming it and the known keys. Call
     * it after reading every key.
     */
    public void checkNoUnknownKeys() {
        List<ConfigException.Problem> problems = new ArrayList<>();
        node.fieldNames().forEachRemaining(k -> {
            if (!read.contains(k)) {
                problems.add(new ConfigException.Problem(pathOf(k),
                        "unknown key; expected one of: " + (read.isEmpty() ? "(none)" : String.join(", ", read))));
            }
        });
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    /**
     * Runs an options builder's {@code build()} and turns its {@link IllegalArgumentException} into a
     * {@link ConfigException}: at the key the message begins with ({@code "batchSize: must be at least
     * 1"} names {@code <this path>.batchSize}), else at this section.
     */
    public <T> T build(java.util.function.Supplier<T> builder) {
        try {
            return builder.get();
        } catch (IllegalArgumentException e) {
            String message = String.valueOf(e.getMessage());
            int colon = message.indexOf(": ");
            if (colon > 0 && message.substring(0, colon).matches("[A-Za-z]+")) {
                throw new ConfigException(pathOf(message.substring(0, colon)), message.substring(colon + 2));
            }
            throw new ConfigException(path, message);
        }
    }

    /**
     * Binds this mapping into {@code type}, a record whose components are its keys ({@link Key}):
     * every problem is reported at once, each with its path (an unknown key with the known ones, a
     * value of the wrong type, a missing required key, an integer out of range). Keys already read
     * (the {@code type} the service read) are left out. Environment variables are already substituted.
     */
    public <T extends Record> T bind(Class<T> type) {
        List<ConfigException.Problem> problems = new ArrayList<>();
        T value = bind(type, problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return value;
    }

    /**
     * {@link #bind(Class)}, adding every problem to {@code problems} instead of throwing: the value as far
     * as it could be bound (a key in error binds to null, so takes its default), or null when the
     * binding could not even begin. For a reader that reports more than one section's problems at once.
     */
    public <T extends Record> T bind(Class<T> type, List<ConfigException.Problem> problems) {
        Set<String> keys = new LinkedHashSet<>();
        for (java.lang.reflect.RecordComponent c : type.getRecordComponents()) {
            keys.add(c.getName());
        }
        Set<String> skip = new LinkedHashSet<>(read); // what others read (the service: type), not an earlier bind
        skip.removeAll(keys);
        T value = Binder.bind(path, node, skip, type, problems);
        read.addAll(keys);
        return value;
    }

    /** The raw tree, for code that maps a section itself. */
    public JsonNode node() {
        return node;
    }

    /** Marks keys as known without reading them (for keys handled elsewhere). */
    public void markRead(String... keys) {
        read.addAll(List.of(keys));
    }

    private JsonNode value(String key) {
        read.add(key);
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : v;
    }

    /** {@code 64MiB}, {@code 512 KB}, {@code 1048576} as bytes; -1 when the text is not a size. */
    static long parseBytes(String text) {
        Matcher m = SIZE.matcher(text);
        if (!m.matches()) {
            return -1;
        }
        long n;
        try {
            n = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return -1;
        }
        String unit = m.group(2) == null ? "" : m.group(2).toUpperCase(Locale.ROOT);
        int shift = switch (unit.isEmpty() ? ' ' : unit.charAt(0)) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
        };
        if (shift == 0 && !unit.isEmpty() && !unit.equals("B")) {
            return -1;
        }
        if (n > (Long.MAX_VALUE >> shift)) {
            return -1;
        }
        return n << shift;
    }

    /** {@code 500ms}, {@code 5m}, {@code PT1M} as a duration; null when the text is not one. */
    static Duration parseDuration(String text) {
        Matcher m = DURATION.matcher(text);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            return switch (m.group(2).toLowerCase(Locale.ROOT)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }
        try {
            return Duration.parse(text);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String describe(JsonNode v) {
        if (v.isObject()) {
            return "a mapping";
        }
        if (v.isArray()) {
            return "a list";
        }
        String t = v.asText();
        return "'" + (t.length() > 60 ? t.substring(0, 60) + "..." : t) + "'";
    }

    @Override
    public String toString() {
        return "Settings[" + path + "]";
    }
}
