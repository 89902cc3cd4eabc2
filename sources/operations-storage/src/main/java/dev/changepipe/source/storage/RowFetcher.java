package dev.changepipe.source.storage;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Columns;
import dev.changepipe.core.PipelineException;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.IsolationLevel;
import io.r2dbc.spi.R2dbcTransientException;
import io.r2dbc.spi.Row;
import io.r2dbc.spi.RowMetadata;
import io.r2dbc.spi.Statement;
import java.nio.ByteBuffer;
import java.time.OffsetTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Fetches the current rows of one database alias for a batch of pks, in one REPEATABLE READ
 * transaction: first the snapshot's position (the version of every item), then the rows with one
 * {@code = ANY($1)} query, or, for integer keys that lie close together, one {@code BETWEEN} range
 * ({@link #DENSE_FACTOR}). Rows that are gone become tombstones carrying the same version.
 *
 * <p><b>Version.</b> {@code pg_current_snapshot()} inside the transaction returns the very snapshot
 * the rows are read with. Its {@code xmax} (the first transaction id not yet completed, 64 bits with
 * epoch) never decreases from one snapshot to a later one; between two snapshots with the same
 * {@code xmax}, transactions can only have left the in-progress list {@code xip} (new ones get ids at
 * or above {@code xmax}). So {@code version = xmax << 20 | (2^20 - 1 - |xip|)} increases whenever what
 * the snapshot sees changed, and is equal only for snapshots that see exactly the same data. It is a
 * property of the data the rows were read from, not of the time they were read, so it orders two
 * overlapping workers correctly, and it is fixed in the chunk, so a replay writes the same version.
 */
final class RowFetcher {

    private static final Logger log = LoggerFactory.getLogger(RowFetcher.class);

    static final int XIP_BITS = 20;
    /**
     * Integer keys whose span (highest minus lowest) is below this many times their count are read
     * with one range scan ({@code BETWEEN}) instead of {@code = ANY}, and the rows not asked for are
     * skipped: PostgreSQL reads 10,000 contiguous keys about eight times faster as a range (3-4 ms)
     * than as 10,000 index lookups (24-30 ms), and a batch of keys registered by one bulk change is
     * usually dense. Below this density, the range would read too many rows nobody asked for.
     */
    static final int DENSE_FACTOR = 2;
    private static final long XIP_MAX = (1L << XIP_BITS) - 1;
    private static final Pattern TYPE_NAME = Pattern.compile("[a-z][a-z0-9_ ]*");
    private static final Set<String> INTEGER_TYPES = Set.of("bigint", "integer", "smallint");

    private static final String VERSION_SQL = "SELECT pg_snapshot_xmax(s)::text AS xmax, "
            + "(SELECT count(*) FROM pg_snapshot_xip(s)) AS xip FROM pg_current_snapshot() AS s";
    private static final String KEY_TYPE_SQL = "SELECT a.atttypid::regtype::text FROM pg_attribute a "
            + "WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped";

    private final Map<String, String> keyTypes = new ConcurrentHashMap<>();

    /**
     * The result of one fetch: the items in pk order, the version they carry, and the pks no row can
     * have (not a valid value of the key column's type), each with why.
     */
    record Fetched(List<ChangeItem> items, long version, Map<String, String> invalidPks) {
    }

    /**
     * Fetches the rows of these pks. A pk that the key column's type cannot take fails the query's cast
     * (PostgreSQL's data exceptions, SQLSTATE class 22) for key types whose values are not checked here
     * (all but integers, uuid and text): then the pks are checked by casting halves of them apart, the
     * ones that do not cast are left out as invalid, and the rest is fetched again, so that one bad pk
     * never fails its batch (a batch retried for ever would stall its import key).
     */
    Mono<Fetched> fetch(ImportKeyOptions key, String alias, ConnectionFactory factory, Map<String, Set<Operation.Type>> opsByPk) {
        return fetchOnce(key, alias, factory, opsByPk)
                .onErrorResume(e -> {
                    String type = keyTypes.get(cacheKey(key, alias));
                    if (type == null || !isDataException(e)) {
                        return Mono.error(e);
                    }
                    return uncastable(factory, type, List.copyOf(opsByPk.keySet())).flatMap(bad -> {
                        if (bad.isEmpty()) {
                            return Mono.error(e); // not a pk's fault after all
                        }
                        Map<String, Set<Operation.Type>> rest = new LinkedHashMap<>(opsByPk);
                        Map<String, String> invalid = new LinkedHashMap<>();
                        for (String pk : bad) {
                            rest.remove(pk);
                            invalid.put(pk, noRowCanHave(key, type, pk));
                        }
                        return fetchOnce(key, alias, factory, rest).map(f -> {
                            invalid.putAll(f.invalidPks());
                            return new Fetched(f.items(), f.version(), invalid);
                        });
                    });
                });
    }

    /** Why a pk is left out: not a value of the key column's type. */
    private static String noRowCanHave(ImportKeyOptions key, String type, String pk) {
        return "pk '" + pk + "' is not a valid " + type + " for " + key.table() + "." + key.keyColumn()
                + ": no row can have it";
    }

    private static boolean isDataException(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof io.r2dbc.spi.R2dbcException r && r.getSqlState() != null && r.getSqlState().startsWith("22")) {
                return true;
            }
        }
        return false;
    }

    /** The pks that do not cast to {@code type}: halves cast apart, one query per half that holds one. */
    private static Mono<List<String>> uncastable(ConnectionFactory factory, String type, List<String> pks) {
        if (pks.isEmpty()) {
            return Mono.just(List.of());
        }
        Mono<Boolean> casts = Mono.usingWhen(Mono.from(factory.create()),
                conn -> Flux.from(conn.createStatement("SELECT cardinality($1::text[]::" + type + "[])")
                                .bind(0, pks.toArray(String[]::new)).execute())
                        .concatMap(r -> r.map((row, meta) -> Boolean.TRUE))
                        .then(Mono.just(true))
                        .onErrorResume(RowFetcher::isDataException, error -> Mono.just(false)),
                Connection::close);
        return casts.flatMap(ok -> {
            if (ok) {
                return Mono.just(List.<String>of());
            }
            if (pks.size() == 1) {
                return Mono.just(pks);
            }
            int half = pks.size() / 2;
            return uncastable(factory, type, pks.subList(0, half))
                    .flatMap(a -> uncastable(factory, type, pks.subList(half, pks.size())).map(b -> {
                        List<String> all = new ArrayList<>(a);
                        all.addAll(b);
                        return all;
                    }));
        });
    }

    private static String cacheKey(ImportKeyOptions key, String alias) {
        return alias + '\u0000' + key.table() + '\u0000' + key.keyColumn();
    }

    private Mono<Fetched> fetchOnce(ImportKeyOptions key, String alias, ConnectionFactory factory,
            Map<String, Set<Operation.Type>> opsByPk) {
        return Mono.usingWhen(Mono.from(factory.create()),
                        conn -> inTransaction(conn, key, alias, opsByPk),
                        Connection::close,
                        (conn, error) -> Mono.from(conn.rollbackTransaction()).onErrorResume(e -> Mono.empty())
                                .then(Mono.from(conn.close())),
                        Connection::close)
                .onErrorMap(e -> !(e instanceof PipelineException), e -> new PipelineException(
                        "fetching rows of " + key.table() + " from database " + alias + ": " + e.getMessage(), e,
                        e instanceof R2dbcTransientException || e instanceof java.io.IOException
                                || e.getClass().getName().contains("Closed")));
    }

    private Mono<Fetched> inTransaction(Connection conn, ImportKeyOptions key, String alias,
            Map<String, Set<Operation.Type>> opsByPk) {
        return Mono.from(conn.beginTransaction(IsolationLevel.REPEATABLE_READ))
                .then(version(conn))
                .flatMap(version -> keyType(conn, key, alias)
                        .flatMap(type -> rows(conn, key, type, opsByPk, version)))
                .flatMap(fetched -> Mono.from(conn.commitTransaction()).thenReturn(fetched));
    }

    private static Mono<Long> version(Connection conn) {
        return Flux.from(conn.createStatement(VERSION_SQL).execute())
                .concatMap(r -> r.map((row, meta) -> {
                    long xmax = Long.parseLong(row.get(0, String.class));
                    long xip = row.get(1, Long.class);
                    return versionOf(xmax, xip);
                }))
                .single();
    }

    static long versionOf(long xmax, long xipCount) {
        if (xmax >= 1L << (63 - XIP_BITS)) {
            throw new PipelineException("transaction id " + xmax + " is too large for a version");
        }
        return xmax << XIP_BITS | (XIP_MAX - Math.min(xipCount, XIP_MAX));
    }

    private Mono<String> keyType(Connection conn, ImportKeyOptions key, String alias) {
        String cacheKey = cacheKey(key, alias);
        String cached = keyTypes.get(cacheKey);
        if (cached != null) {
            return Mono.just(cached);
        }
        return Flux.from(conn.createStatement(KEY_TYPE_SQL).bind(0, qualified(key.table())).bind(1, key.keyColumn()).execute())
                .concatMap(r -> r.map((row, meta) -> row.get(0, String.class)))
                .next()
                .switchIfEmpty(Mono.error(() -> new PipelineException("database " + alias + " has no table "
                        + key.table() + " with a column " + key.keyColumn() + " (import key " + key.importKey() + ")")))
                .flatMap(type -> TYPE_NAME.matcher(type).matches() ? Mono.just(type)
                        : Mono.error(new PipelineException("key column " + key.table() + "." + key.keyColumn()
                                + " has type " + type + ", which is not supported as a key")))
                .doOnNext(type -> keyTypes.put(cacheKey, type));
    }

    private static Mono<Fetched> rows(Connection conn, ImportKeyOptions key, String type,
            Map<String, Set<Operation.Type>> opsByPk, long version) {
        boolean integer = INTEGER_TYPES.contains(type);
        boolean uuid = type.equals("uuid");
        Wanted wanted = new Wanted(opsByPk.size());
        Map<String, String> invalid = new LinkedHashMap<>();
        for (Map.Entry<String, Set<Operation.Type>> e : opsByPk.entrySet()) {
            String pk = e.getKey();
            Object keyValue = keyValueOf(pk, type, integer, uuid);
            if (keyValue == null) {
                invalid.put(pk, noRowCanHave(key, type, pk));
                continue;
            }
            Set<Operation.Type> ops = e.getValue();
            wanted.add(keyValue, ops.size() == 1 && ops.contains(Operation.Type.INSERT));
        }
        if (wanted.size() == 0) {
            return Mono.just(new Fetched(List.of(), version, invalid));
        }
        long[] span = integer ? wanted.span() : null;
        long width = span == null ? -1 : span[1] - span[0]; // negative when it overflows
        boolean dense = width >= 0 && width < DENSE_FACTOR * (long) wanted.size();
        String where = " WHERE " + quote(key.keyColumn());
        Statement statement = dense
                ? conn.createStatement("SELECT * FROM " + qualified(key.table()) + where + " BETWEEN $1 AND $2")
                        .bind(0, span[0]).bind(1, span[1])
                : conn.createStatement("SELECT * FROM " + qualified(key.table()) + where
                        + " = ANY($1::text[]::" + type + "[])").bind(0, Arrays.copyOf(wanted.canonical, wanted.size()));
        RowDecoder decoder = new RowDecoder(key, integer, uuid, wanted, version, dense);
        return Flux.from(statement.execute())
                .concatMap(r -> r.map(decoder::item))
                .then(Mono.fromCallable(() -> {
                    int n = wanted.size();
                    ChangeItem[] found = decoder.found;
                    List<ChangeItem> ordered = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        ChangeItem item = found[i];
                        if (item == null) {
                            item = ChangeItem.delete(key.model(), decoder.keyColumns.row(wanted.keyValue[i]), version);
                        }
                        ordered.add(item);
                    }
                    return new Fetched(ordered, version, invalid);
                }));
    }

    /**
     * The distinct keys asked for, in the order of their first pk: the key value a tombstone carries
     * ({@code Long} for integer keys, else the canonical text), its canonical text, and whether the
     * only operation of the first pk that spells it is an insert. {@code slot} finds a key's position
     * from a row's key value: by {@code Long} for integer keys (equal exactly when the canonical
     * texts are), else by canonical text.
     */
    private static final class Wanted {

        final Map<Object, Integer> slot;
        final Object[] keyValue;
        final String[] canonical;
        /** Whether the key's only operation is an insert (its row becomes an INSERT item, else an UPDATE). */
        final boolean[] insertOnly;
        private int size;

        Wanted(int capacity) {
            slot = new HashMap<>(Math.max(16, (int) (capacity / 0.75f) + 1));
            keyValue = new Object[capacity];
            canonical = new String[capacity];
            insertOnly = new boolean[capacity];
        }

        void add(Object keyValue, boolean insertOnly) {
            if (slot.putIfAbsent(keyValue, size) == null) {
                this.keyValue[size] = keyValue;
                this.canonical[size] = keyValue.toString();
                this.insertOnly[size] = insertOnly;
                size++;
            }
        }

        int size() {
            return size;
        }

        /** The lowest and the highest key (integer keys, at least one). */
        long[] span() {
            long min = Long.MAX_VALUE;
            long max = Long.MIN_VALUE;
            for (int i = 0; i < size; i++) {
                long k = (Long) keyValue[i];
                min = Math.min(min, k);
                max = Math.max(max, k);
            }
            return new long[] {min, max};
        }
    }

    /**
     * Turns the rows of one query into items, each stored at its key's position in {@code found}. The
     * column names are read from the first row's metadata only (every row of a result has the same
     * columns); the item's size estimate is computed while the values are converted, from their exact
     * classes, instead of walking the map again ({@link ChangeItem#estimateSize} gives the same figure
     * for these value types). Each row's values reach {@link ChangeItem} as a row of the result's
     * {@link Columns}, and its key as a row of {@link #keyColumns}, which it keeps without copying.
     */
    private static final class RowDecoder {

        private final ImportKeyOptions key;
        private final boolean integer;
        private final boolean uuid;
        private final Wanted wanted;
        private final long version;
        /** The rows are those of a key range: rows not asked for are skipped (their values not decoded). */
        private final boolean range;
        final ChangeItem[] found;
        /** The key column alone: every item's key is a row of it. */
        final Columns keyColumns;
        private RowMetadata namesOf;
        private Columns columns;
        private int keyIndex;
        private long fixedSize;

        RowDecoder(ImportKeyOptions key, boolean integer, boolean uuid, Wanted wanted, long version, boolean range) {
            this.key = key;
            this.range = range;
            this.integer = integer;
            this.uuid = uuid;
            this.wanted = wanted;
            this.version = version;
            this.found = new ChangeItem[wanted.size()];
            this.keyColumns = Columns.of(key.keyColumn());
        }

        /** Decodes a row into its key's slot of {@link #found}; returns whether it was asked for. */
        Boolean item(Row row, RowMetadata meta) {
            if (meta != namesOf) {
                columns(meta);
            }
            Object keyValue = convert(row.get(keyIndex));
            Integer at = wanted.slot.get(integer && keyValue instanceof Long ? keyValue : canonicalOf(keyValue));
            if (at == null) {
                if (range) {
                    return Boolean.FALSE; // in the range, not in the batch
                }
                throw new PipelineException("row with key " + keyValue + " of " + key.table() + " was not asked for");
            }
            int n = columns.names().size();
            Object[] values = new Object[n];
            long size = fixedSize;
            for (int i = 0; i < n; i++) {
                Object value = i == keyIndex ? keyValue : convert(row.get(i));
                values[i] = value;
                size += estimateValue(value);
            }
            ChangeItem.Kind kind = wanted.insertOnly[at] ? ChangeItem.Kind.INSERT : ChangeItem.Kind.UPDATE;
            Map<String, Object> keyMap = keyColumns.row(keyValue);
            size += 48 + 48 + 2L * key.keyColumn().length() + estimateValue(keyValue);
            found[at] = new ChangeItem(kind, key.model(), keyMap, columns.row(values), version, null, size);
            return Boolean.TRUE;
        }

        private String canonicalOf(Object keyValue) {
            return uuid || keyValue instanceof UUID ? keyValue.toString().toLowerCase() : keyValue.toString();
        }

        private void columns(RowMetadata meta) {
            int n = meta.getColumnMetadatas().size();
            String[] columnNames = new String[n];
            long fixed = 96 + 2L * key.model().length() + 48;
            int keyAt = -1;
            for (int i = 0; i < n; i++) {
                columnNames[i] = meta.getColumnMetadata(i).getName();
                fixed += 48 + 2L * columnNames[i].length();
                if (keyAt < 0 && columnNames[i].equals(key.keyColumn())) {
                    keyAt = i;
                }
            }
            if (keyAt < 0) {
                throw new PipelineException("table " + key.table() + " returned no column " + key.keyColumn());
            }
            columns = Columns.of(columnNames);
            keyIndex = keyAt;
            fixedSize = fixed;
            namesOf = meta;
        }
    }

    /** {@link ChangeItem#estimateSize}'s figure for one converted value, by exact class first. */
    static long estimateValue(Object value) {
        if (value == null) {
            return 0;
        }
        Class<?> type = value.getClass();
        if (type == String.class) {
            return 40 + 2L * ((String) value).length();
        }
        if (type == Long.class || type == java.math.BigDecimal.class || type == java.time.LocalDateTime.class
                || type == Boolean.class || type == Double.class || type == java.time.OffsetDateTime.class
                || type == java.time.LocalDate.class) {
            return 24;
        }
        if (type == byte[].class) {
            return 16 + ((byte[]) value).length;
        }
        return ChangeItem.estimateValue(value);
    }

    /**
     * The key value a pk stands for, as a row's key converts: a {@code Long} for integer keys, the
     * canonical (lower-case) text for uuid keys, the pk itself for others; {@code null} when no row can
     * have it. Its {@code toString()} is the canonical text sent in the query.
     */
    private static Object keyValueOf(String pk, String type, boolean integer, boolean uuid) {
        try {
            if (integer) {
                long value = Long.parseLong(pk.trim());
                // beyond the column's type, the query's cast would fail the whole batch
                long max = type.equals("smallint") ? Short.MAX_VALUE : type.equals("integer") ? Integer.MAX_VALUE
                        : Long.MAX_VALUE;
                return value >= -max - 1 && value <= max ? value : null;
            }
            if (uuid) {
                return UUID.fromString(pk.trim()).toString();
            }
            return pk;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * Integers become {@code Long}, numeric stays {@code BigDecimal}, text {@code String}, boolean
     * {@code Boolean}, uuid its {@code String}, timestamps and dates their {@code java.time} type
     * ({@code LocalDateTime}, {@code OffsetDateTime}, {@code LocalDate}, {@code LocalTime}), json a
     * {@link dev.changepipe.core.JsonValue} of its text, bytea {@code byte[]}, arrays {@code List}s of
     * converted elements.
     */
    static Object convert(Object value) {
        if (value == null) {
            return null;
        }
        Class<?> type = value.getClass();
        if (type == Long.class || type == String.class || type == java.math.BigDecimal.class
                || type == java.time.LocalDateTime.class || type == Boolean.class) {
            return value;
        }
        if (type == Integer.class) {
            return ((Integer) value).longValue();
        }
        if (value == null || value instanceof Long || value instanceof String || value instanceof Boolean
                || value instanceof java.math.BigDecimal || value instanceof Double || value instanceof java.time.temporal.Temporal
                        && !(value instanceof OffsetTime)) {
            return value;
        }
        if (value instanceof Integer || value instanceof Short || value instanceof Byte) {
            return ((Number) value).longValue();
        }
        if (value instanceof Float f) {
            return f.doubleValue();
        }
        if (value instanceof UUID u) {
            return u.toString();
        }
        if (value instanceof ByteBuffer b) {
            byte[] bytes = new byte[b.remaining()];
            b.duplicate().get(bytes);
            return bytes;
        }
        if (value instanceof byte[]) {
            return value;
        }
        if (value instanceof io.r2dbc.postgresql.codec.Json json) {
            return new dev.changepipe.core.JsonValue(json.asString());
        }
        if (value instanceof Object[] array) {
            List<Object> list = new ArrayList<>(array.length);
            for (Object o : array) {
                list.add(convert(o));
            }
            return list;
        }
        if (value.getClass().isArray()) {
            return convert(boxed(value));
        }
        return value.toString();
    }

    private static Object[] boxed(Object primitiveArray) {
        int n = java.lang.reflect.Array.getLength(primitiveArray);
        Object[] out = new Object[n];
        for (int i = 0; i < n; i++) {
            out[i] = java.lang.reflect.Array.get(primitiveArray, i);
        }
        return out;
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    static String qualified(String table) {
        return String.join(".", Arrays.stream(table.split("\\.")).map(RowFetcher::quote).toList());
    }
}
