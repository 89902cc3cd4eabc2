package dev.changepipe.sink.redis;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;

/**
 * The key grammar of the hot storage (docs/redis-hot-storage.md, "Key grammar"). Every part taken
 * from data (model, field names, values, primary key) is escaped, so that no value can forge another
 * key: the separators {@code :} (between parts), {@code ,} and {@code =} (inside a composite primary
 * key), {@code %} (the escape character), braces (Redis Cluster hash tags), glob characters, space
 * and control characters are written as {@code %XX}. A field literally named {@code pk} is written
 * {@code %70k}, so that a single-field index key never reads like an object key.
 *
 * <pre>
 * object       P M:pk:K
 * index set    P M:pk:K:indexes
 * tombstone    P M:pk:K:deleted
 * all pks      P M:all
 * unique       P M:F:V             (one field)
 *              P M:F1:V1:F2:V2...  (fields sorted by name)
 * </pre>
 *
 * Immutable and thread-safe.
 */
final class KeyLayout {

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private final String prefix;
    private final boolean hashTag;

    KeyLayout(HotStorageOptions options) {
        this.prefix = options.keyPrefix();
        this.hashTag = options.modelHashTag();
    }

    /** The key prefix plus the escaped model and a separator: where every key of the model starts. */
    String modelPrefix(String model) {
        String m = escape(requireNonEmpty(model, "model"));
        return prefix + (hashTag ? "{" + m + "}" : m) + ":";
    }

    String allKey(String model) {
        return modelPrefix(model) + "all";
    }

    /** What an object key of the model starts with; the escaped pk follows. */
    String pkKeyPrefix(String model) {
        return modelPrefix(model) + "pk:";
    }

    String objectKey(String model, String pkPart) {
        return pkKeyPrefix(model) + pkPart;
    }

    String indexesKey(String model, String pkPart) {
        return pkKeyPrefix(model) + pkPart + ":indexes";
    }

    String tombstoneKey(String model, String pkPart) {
        return pkKeyPrefix(model) + pkPart + ":deleted";
    }

    /**
     * The index key of a constraint for these values, or {@code null} when a field of the constraint
     * is null or missing (as in SQL, nulls never conflict, so they are not indexed).
     */
    String uniqueKey(String model, UniqueConstraint constraint, Map<String, ?> values) {
        StringBuilder key = new StringBuilder(modelPrefix(model));
        boolean first = true;
        for (String field : constraint.fields()) {
            Object value = values.get(field);
            if (value == null) {
                return null;
            }
            if (!first) {
                key.append(':');
            }
            first = false;
            key.append(fieldPart(field)).append(':').append(escape(render(value, field)));
        }
        return key.toString();
    }

    /** The escaped primary key of a change's key columns. */
    static String pkPart(Map<String, ?> key) {
        if (key.isEmpty()) {
            throw new IllegalArgumentException("the primary key has no column");
        }
        if (key.size() == 1) {
            Map.Entry<String, ?> only = key.entrySet().iterator().next();
            return escape(render(requirePk(only.getValue(), only.getKey()), only.getKey()));
        }
        StringBuilder part = new StringBuilder();
        for (Map.Entry<String, ?> e : new TreeMap<>(key).entrySet()) {
            if (part.length() > 0) {
                part.append(',');
            }
            part.append(escape(e.getKey())).append('=')
                    .append(escape(render(requirePk(e.getValue(), e.getKey()), e.getKey())));
        }
        return part.toString();
    }

    /** The escaped primary key given to a lookup: a single value, or a map of key columns. */
    static String pkPartOf(Object pk) {
        Objects.requireNonNull(pk, "pk");
        if (pk instanceof Map<?, ?> map) {
            TreeMap<String, Object> columns = new TreeMap<>();
            map.forEach((k, v) -> columns.put(String.valueOf(k), v));
            return pkPart(columns);
        }
        return escape(render(pk, "pk"));
    }

    static String fieldPart(String field) {
        String escaped = escape(field);
        return escaped.equals("pk") ? "%70k" : escaped;
    }

    /**
     * The canonical text of a value in a key: strings as they are, integers in decimal, other numbers
     * in plain notation without trailing zeros ({@code 5.0} is {@code 5}), booleans as
     * {@code true}/{@code false}, UUIDs in their usual form. Lists, maps and other types cannot be
     * part of a key.
     */
    static String render(Object value, String field) {
        if (value instanceof String s) {
            return s;
        }
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte
                || value instanceof BigInteger || value instanceof Boolean || value instanceof UUID) {
            return value.toString();
        }
        if (value instanceof BigDecimal d) {
            return d.signum() == 0 ? "0" : d.stripTrailingZeros().toPlainString();
        }
        if (value instanceof Double || value instanceof Float) {
            double d = ((Number) value).doubleValue();
            if (Double.isFinite(d)) {
                return render(BigDecimal.valueOf(d), field);
            }
        }
        if (value instanceof Character c) {
            return c.toString();
        }
        throw new IllegalArgumentException("field " + field + ": a value of type "
                + (value == null ? "null" : value.getClass().getName()) + " cannot be part of a key");
    }

    /** Percent-encodes the characters that have a meaning in the key grammar. */
    static String escape(String s) {
        int i = 0;
        while (i < s.length() && !special(s.charAt(i))) {
            i++;
        }
        if (i == s.length()) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length() + 16).append(s, 0, i);
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            if (special(c)) {
                for (byte b : String.valueOf(c).getBytes(StandardCharsets.UTF_8)) {
                    out.append('%').append(HEX[(b >> 4) & 0xF]).append(HEX[b & 0xF]);
                }
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean special(char c) {
        return c <= 0x20 || c == 0x7F || c == '%' || c == ':' || c == ',' || c == '=' || c == '{' || c == '}'
                || c == '*' || c == '?' || c == '[' || c == ']' || c == '\\';
    }

    private static Object requirePk(Object value, String column) {
        if (value == null) {
            throw new IllegalArgumentException("primary key column " + column + " is null");
        }
        return value;
    }

    private static String requireNonEmpty(String s, String what) {
        if (s == null || s.isEmpty()) {
            throw new IllegalArgumentException(what + " must not be null or empty");
        }
        return s;
    }
}
