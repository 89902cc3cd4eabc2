package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactories;
import io.r2dbc.spi.ConnectionFactory;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The PostgreSQL side of a verify: one table of one database, digested in the server in the canonical
 * form {@link TableDigest} defines, each value written as the target column's {@link TableDigest.Kind}
 * wants it from the PostgreSQL type it has (a {@code timestamp} read in the target column's zone, as
 * the sink converted it). Each call opens a connection and closes it; nothing is written.
 */
final class PostgresDigests {

    /** The primary key's columns, else the replica identity index's. */
    private static final String KEY_SQL = "SELECT a.attname FROM pg_index i"
            + " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            + " WHERE i.indexrelid = (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = to_regclass($1)"
            + " AND (x.indisprimary OR x.indisreplident) ORDER BY x.indisprimary DESC LIMIT 1)";
    private static final String PAGES_SQL = "SELECT relpages::bigint, current_setting('server_version_num')::int"
            + " FROM pg_class WHERE oid = to_regclass($1)";
    /** A table of more pages than this is digested in {@link #PARTS} block ranges at once (see {@link #buckets}). */
    private static final long SPLIT_PAGES = 1000;
    private static final int PARTS = 2;
    private static final String ESTIMATE_SQL = "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1)";

    private final ConnectionFactory factory;
    private final String table;
    /** How the digest's rows are copied out and hashed here; null: the server hashes them. */
    private final CopyDigests copy;

    PostgresDigests(String url, String table) {
        this(ConnectionFactories.get(url), table, CopyDigests.of(url));
    }

    PostgresDigests(ConnectionFactory factory, String table) {
        this(factory, table, null);
    }

    private PostgresDigests(ConnectionFactory factory, String table, CopyDigests copy) {
        this.factory = factory;
        this.table = table;
        this.copy = copy;
    }

    /** The same table digested by the server alone (its {@code md5()}), as when the URL cannot be copied from. */
    PostgresDigests hashedInTheServer() {
        return new PostgresDigests(factory, table, null);
    }

    /** The table's columns and their PostgreSQL types ({@code typname}), in order; empty when it does not exist. */
    Mono<Map<String, String>> columns() {
        return describe().map(PostgresDigests::types);
    }

    /** The types ({@code typname}) by column of {@link #describe}'s rows, in order. */
    static Map<String, String> types(List<Object[]> described) {
        Map<String, String> out = new LinkedHashMap<>();
        described.forEach(c -> out.put((String) c[0], (String) c[1]));
        return out;
    }

    /** The table's columns: name, {@code typname}, {@code atttypmod}, whether nullable ({@link PostgresTableDigest#describe}). */
    Mono<List<Object[]>> describe() {
        return PostgresTableDigest.describe(factory, table);
    }

    /** The table's key columns: its primary key's, else its replica identity index's; empty when it has neither. */
    Mono<List<String>> key() {
        return with(c -> Flux.from(c.createStatement(KEY_SQL).bind(0, qualified(table)).execute())
                .flatMap(r -> r.map((row, meta) -> row.get(0, String.class)))
                .collectList());
    }

    /** The planner's estimate of the table's rows (0 before its first ANALYZE). */
    Mono<Long> estimate() {
        return with(c -> Flux.from(c.createStatement(ESTIMATE_SQL).bind(0, qualified(table)).execute())
                .flatMap(r -> r.map((row, meta) -> row.get(0, Long.class)))
                .next()
                .defaultIfEmpty(0L));
    }

    /**
     * The digest of every bucket. A table of more than {@value #SPLIT_PAGES} pages is read in {@value #PARTS}
     * block ranges at once, each on a connection of its own (PostgreSQL 14 or later: a TID range scan reads
     * only its blocks): the server works on as many cores. When the database's URL allows it, the server
     * builds each row's canonical text and this JVM hashes it ({@link CopyDigests}); otherwise the server
     * hashes too, with {@code md5()}.
     */
    Mono<Map<Integer, Digest>> buckets(Shape shape, Map<String, String> types) {
        return buckets(shape, types, PARTS);
    }

    /** {@link #buckets(Shape, Map)} in this many block ranges, if the table is large enough. */
    Mono<Map<Integer, Digest>> buckets(Shape shape, Map<String, String> types, int parts) {
        String select = copy != null
                ? "SELECT " + (shape.integerBuckets() ? bucket(shape, types) + "::int4" : keyText(shape, types)) + ", "
                        + rowText(shape, types) + " FROM " + qualified(table)
                : "SELECT b, count(*), sum(h)::text FROM (SELECT " + bucket(shape, types) + " AS b, "
                        + hash(shape, types) + " AS h FROM " + qualified(table);
        String end = copy != null ? "" : ") s GROUP BY b";
        return with(c -> Flux.from(c.createStatement(PAGES_SQL).bind(0, qualified(table)).execute())
                .flatMap(r -> r.map((row, meta) -> new long[] {row.get(0, Long.class), row.get(1, Integer.class)}))
                .next()
                .defaultIfEmpty(new long[] {0, 0}))
                .flatMapMany(pages -> {
                    if (parts < 2 || pages[0] <= SPLIT_PAGES || pages[1] < 140000) {
                        return digest(shape, select + end);
                    }
                    long step = pages[0] / parts + 1;
                    return Flux.range(0, parts).flatMap(i -> digest(shape, select + " WHERE ctid >= '(" + i * step + ",0)'::tid"
                            + (i == parts - 1 ? "" : " AND ctid < '(" + (i + 1) * step + ",0)'::tid") + end), parts);
                })
                .reduce(new java.util.HashMap<Integer, Digest>(), (all, one) -> {
                    all.merge(one.getKey(), one.getValue(), Digest::plus);
                    return all;
                });
    }

    /** The digests of one query's rows: copied and hashed here, or hashed and summed by the server. */
    private Flux<Map.Entry<Integer, Digest>> digest(Shape shape, String sql) {
        if (copy == null) {
            return digest(sql);
        }
        return Mono.defer(() -> {
            java.util.concurrent.atomic.AtomicReference<AutoCloseable> open = new java.util.concurrent.atomic.AtomicReference<>();
            return Mono.fromCallable(() -> copy.digest(shape, sql, open::set))
                    .subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic())
                    .doOnCancel(() -> closeQuietly(open.get()));
        }).flatMapIterable(Map::entrySet);
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // cancelled: the copy ends with its connection
            }
        }
    }

    private Flux<Map.Entry<Integer, Digest>> digest(String sql) {
        return query(sql, row -> Map.entry(row.get(0, Long.class).intValue(),
                new Digest(row.get(1, Long.class), new BigInteger(row.get(2, String.class)))));
    }

    Mono<Map<String, Long>> hashes(Shape shape, Map<String, String> types, Set<Integer> buckets) {
        if (buckets.isEmpty()) {
            return Mono.just(Map.of());
        }
        String in = buckets.stream().map(String::valueOf).collect(Collectors.joining(", "));
        String sql = "SELECT k, h FROM (SELECT " + keyText(shape, types) + " AS k, " + bucket(shape, types)
                + " AS b, " + hash(shape, types) + " AS h FROM " + qualified(table) + ") s WHERE b IN ("
                + in + ")";
        return query(sql, row -> Map.entry(row.get(0, String.class), row.get(1, Long.class)))
                .collectMap(Map.Entry::getKey, Map.Entry::getValue);
    }

    /** Whether the key column holds integers here as in the target: keys then find their bucket without a hash. */
    static boolean integerKey(Column key, Map<String, String> types) {
        return key.kind() == TableDigest.Kind.INTEGER && Set.of("int2", "int4", "int8").contains(types.get(key.name()));
    }

    /** The canonical text of the rows of these keys (key texts). */
    Mono<Map<String, String>> rows(Shape shape, Map<String, String> types, Collection<String> keys) {
        if (keys.isEmpty()) {
            return Mono.just(Map.of());
        }
        Column key = shape.key();
        String type = types.get(key.name());
        // a key whose canonical text is its PostgreSQL text is found through its index
        boolean typed = shape.keys().size() == 1 && switch (key.kind()) {
            case INTEGER -> Set.of("int2", "int4", "int8", "numeric").contains(type);
            case STRING -> Set.of("text", "varchar", "bpchar").contains(type);
            case UUID -> type.equals("uuid");
            default -> false;
        };
        String where = typed
                ? quote(key.name()) + " = ANY($1::text[]::" + type + "[])"
                : keyText(shape, types) + " = ANY($1::text[])";
        String sql = "SELECT " + keyText(shape, types) + ", " + rowText(shape, types) + " FROM " + qualified(table)
                + " WHERE " + where;
        return with(c -> Flux.from(c.createStatement(sql).bind(0, keys.toArray(String[]::new)).execute())
                .flatMap(r -> r.map((row, meta) -> Map.entry(row.get(0, String.class), row.get(1, String.class))))
                .collectMap(Map.Entry::getKey, Map.Entry::getValue));
    }

    private <T> Flux<T> query(String sql, Function<io.r2dbc.spi.Row, T> map) {
        return Flux.usingWhen(factory.create(),
                c -> Flux.from(c.createStatement(sql).execute()).flatMap(r -> r.map((row, meta) -> map.apply(row))),
                Connection::close);
    }

    private <T> Mono<T> with(Function<Connection, Mono<T>> work) {
        return Mono.usingWhen(factory.create(), work, Connection::close);
    }

    private static String bucket(Shape shape, Map<String, String> types) {
        if (shape.integerBuckets()) {
            return "(abs(" + quote(shape.key().name()) + "::bigint) % " + shape.buckets() + ")";
        }
        return "((('x' || substr(md5(" + keyText(shape, types) + "), 1, 8))::bit(32)::int::bigint & 4294967295) % "
                + shape.buckets() + ")";
    }

    private static String hash(Shape shape, Map<String, String> types) {
        return "('x' || substr(md5(" + rowText(shape, types) + "), 1, 16))::bit(64)::bigint";
    }

    /** A key's text: its columns' texts, joined. */
    private static String keyText(Shape shape, Map<String, String> types) {
        return join(shape.keys(), types);
    }

    private static String rowText(Shape shape, Map<String, String> types) {
        return join(shape.columns(), types);
    }

    private static String join(List<Column> columns, Map<String, String> types) {
        List<String> parts = new ArrayList<>();
        for (Column c : columns) {
            parts.add(text(c, types));
        }
        return parts.size() == 1 ? parts.get(0) : "concat_ws(chr(31), " + String.join(", ", parts) + ")";
    }

    /** A column's value in the canonical form, from its PostgreSQL type; {@code \N} for null. */
    static String text(Column c, Map<String, String> types) {
        String q = "(" + quote(c.name()) + ")";
        String type = types.getOrDefault(c.name(), "");
        String e = switch (c.kind()) {
            case INTEGER -> type.equals("bool") ? q + "::int::text"
                    : type.startsWith("int") ? q + "::text" : "round(" + q + "::numeric)::text";
            case DECIMAL -> "round(" + q + "::numeric, " + c.scale() + ")::text";
            // in double precision, as ClickHouse computes it: the same product, and both round half to even
            case FLOAT -> "round((" + q + (c.scale() == 4 ? "::float4" : "") + ")::float8 * 1000000::float8)::bigint::text";
            case STRING, UUID -> q + "::text";
            case BYTES -> type.equals("bytea") ? "encode(" + q + ", 'hex')" : "encode(convert_to(" + q + "::text, 'UTF8'), 'hex')";
            case DATE -> switch (type) {
                case "date" -> "(" + q + " - date '1970-01-01')::text";
                case "timestamptz" -> "((" + q + " AT TIME ZONE 'UTC')::date - date '1970-01-01')::text";
                default -> "(" + q + "::date - date '1970-01-01')::text";
            };
            case DATETIME -> switch (type) {
                // date_part is a double, far cheaper than extract's numeric, and exact to the microsecond here
                case "timestamptz" -> "floor(date_part('epoch', " + q + "))::bigint::text";
                // a timestamp's epoch is its seconds since 1970-01-01 00:00 as if in UTC: no conversion for UTC
                default -> zone(c).equals("'UTC'") ? "floor(date_part('epoch', " + q + "::timestamp))::bigint::text"
                        : "floor(date_part('epoch', " + q + "::timestamp AT TIME ZONE " + zone(c) + "))::bigint::text";
            };
        };
        return "coalesce(" + e + ", '\\N')";
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    /** {@code "schema"."table"} of {@code schema.table}, {@code "table"} of {@code table}. */
    static String qualified(String table) {
        return String.join(".", java.util.Arrays.stream(table.split("\\.")).map(PostgresDigests::quote).toList());
    }

    private static String zone(Column c) {
        String z = c.zone() == null ? "UTC" : c.zone();
        return "'" + z.replace("'", "''") + "'";
    }
}
