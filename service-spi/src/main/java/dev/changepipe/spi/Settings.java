package dev.changepipe.spi;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One mapping of the YAML configuration (a pipeline's {@code source:}, one of its {@code sinks:}, a
 * connection...), which knows where it is in the file. Environment variables are already substituted.
 *
 * <p>A section is read by {@link #bind binding} it into a record of {@link Key}s, the key registry of
 * its type: every problem is then reported at once, each a {@link ConfigException.Problem} naming its
 * path ({@code pipelines[0].source.pollInterval}) and saying what was expected. A typo is an unknown
 * key, an error naming the keys that exist, never a silently ignored setting.
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
    /** Keys read by {@link #string} (the service's {@code type}): left out of a {@link #bind}. */
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

    /**
     * A required string (numbers and booleans are taken as their text), such as the {@code type} the
     * service reads before it hands the section to the type's provider; a key read here is left out of
     * a later {@link #bind}.
     */
    public String string(String key) {
        read.add(key);
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new ConfigException(pathOf(key), "required, expected a string");
        }
        if (!v.isValueNode()) {
            throw new ConfigException(pathOf(key), "expected a string, got " + describe(v));
        }
        return v.asText();
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

    /**
     * Runs an options builder's {@code build()} and turns its {@link IllegalArgumentException} into a
     * {@link ConfigException}: at the key the message begins with ({@code "batchSize: must be at least
     * 1"} names {@code <this path>.batchSize}), else at this section.
     */
    public <T> T build(Supplier<T> builder) {
        return buildAt(path, builder);
    }

    /** {@link #build(Supplier)} for the mapping at {@code key} of this one (an import key, a table). */
    public <T> T build(String key, Supplier<T> builder) {
        return buildAt(pathOf(key), builder);
    }

    private static <T> T buildAt(String at, Supplier<T> builder) {
        try {
            return builder.get();
        } catch (IllegalArgumentException e) {
            String message = String.valueOf(e.getMessage());
            int colon = message.indexOf(": ");
            if (colon > 0 && message.substring(0, colon).matches("[A-Za-z]+")) {
                throw new ConfigException(at + "." + message.substring(0, colon), message.substring(colon + 2));
            }
            throw new ConfigException(at, message);
        }
    }

    /** The raw tree, for code that maps a section itself. */
    public JsonNode node() {
        return node;
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

    /**
     * {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 1d} or ISO 8601 ({@code PT1M}) as a
     * duration, as the configuration writes them (for a command's options too); null when the text is
     * not one.
     */
    public static Duration parseDuration(String text) {
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
