package dev.changepipe.source.cdc;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.verify.PostgresCopy;
import io.r2dbc.postgresql.api.PostgresqlConnection;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * Copying tables: the snapshot of a run ({@link #snapshot}: whole tables and key ranges of large ones,
 * several at once, each part resumable from its last written key) and a table's pages for a resync
 * ({@link #pages}). The progress it reads and keeps is the source's ({@link PostgresCdcSource}).
 */
final class TableCopy {

    private static final Logger log = LoggerFactory.getLogger(PostgresCdcSource.class);
    private static final String DONE = PostgresCdcSource.DONE;
    /** The most key ranges a table's copy is split into. */
    private static final int MAX_RANGES = 64;
    /** {@code int2}, {@code int4}, {@code int8}: the keys a table's copy can be split by. */
    private static final Set<Integer> INTEGER_TYPES = Set.of(20, 21, 23);

    private final PostgresCdcSource source;
    private final PostgresCdcOptions options;
    private final PostgresqlConnection sql;
    private final Scheduler sqlLoop;
    private final String exportedSnapshot;
    /** How the snapshot reads tables with {@code COPY} (JDBC); null when the URL cannot be copied from: R2DBC reads them. */
    private final PostgresCopy copy;

    /**
     * @param sql the run's query connection: it plans the ranges, and copies too when R2DBC reads the tables
     * @param exportedSnapshot the snapshot the slot exported when this run created it, or {@code null}
     */
    TableCopy(PostgresCdcSource source, PostgresqlConnection sql, Scheduler sqlLoop, String exportedSnapshot) {
        this.source = source;
        this.options = source.options;
        this.sql = sql;
        this.sqlLoop = sqlLoop;
        this.exportedSnapshot = exportedSnapshot;
        this.copy = PostgresCopy.of(options.url());
    }

    /**
     * Copies these tables (those not copied yet), {@code snapshotConnections} parts at once, each
     * connection in the slot's exported snapshot when this run created the slot.
     */
    Flux<Chunk> snapshot(List<TableShape> todo) {
        return Flux.fromIterable(todo).concatMap(this::units).collectList().flatMapMany(lists -> {
            List<Unit> units = lists.stream().flatMap(List::stream).toList();
            int connections = Math.min(options.snapshotConnections(), units.size());
            log.info("{}: copying {} table(s) {}{}, {} part(s) on {} connection(s)", options.name(), todo.size(),
                    todo.stream().map(t -> t.name).toList(),
                    exportedSnapshot == null ? "" : " in the slot's snapshot " + exportedSnapshot, units.size(), connections);
            Queue<Unit> queue = new ConcurrentLinkedQueue<>(units);
            List<Flux<Chunk>> copies = new ArrayList<>();
            for (int i = 0; i < connections; i++) {
                if (copy != null) {
                    // each connection's first part given now, in order: the first parts start first
                    copies.add(copyAll(queue.poll(), queue));
                } else if (i == 0) {
                    copies.add(copyAll(sql, sqlLoop, queue));
                } else {
                    copies.add(Flux.usingWhen(source.factory.create(), c -> copyAll(c, Faults.eventLoop(c), queue),
                            c -> c.close(), (c, e) -> c.close(), c -> c.close()));
                }
            }
            // one chunk waiting per connection: the pusher bounds what is in flight, not this merge
            return Flux.merge(1, copies.toArray(Flux[]::new));
        });
    }

    /**
     * A part of the snapshot that one connection copies: a whole table ({@code range} -1), or the keys in
     * ({@code lower}, {@code upper}] of a large one (null: unbounded); from after {@code after} when a
     * copy of it was cut.
     */
    private record Unit(TableShape table, int range, String lower, String upper, String[] after) {

        String origin() {
            String name = table.name.toString();
            return PostgresCdcSource.SNAPSHOT_ORIGIN_PREFIX + (range < 0 ? name : PostgresCdcSource.rangeKey(name, range));
        }
    }

    /**
     * The parts of a table's copy: the ranges it was split at before (those not written yet); else, for a
     * table not started yet whose key is one integer column and whose rows (estimated, or its keys' span)
     * are more than {@code snapshotRangeRows}, that many rows per range (up to {@value #MAX_RANGES}),
     * kept in its checkpoint before any is copied; else the whole table.
     */
    private Mono<List<Unit>> units(TableShape table) {
        String name = table.name.toString();
        String[] bounds = source.rangeBounds.get(name);
        if (bounds != null) {
            return Mono.just(rangeUnits(table, bounds));
        }
        String state = source.snapshotState.get(name);
        List<Unit> whole = List.of(new Unit(table, -1, null, null, PostgresCdcSource.afterKey(state)));
        if (state != null || options.snapshotConnections() < 2 || table.key.length != 1
                || !INTEGER_TYPES.contains(table.types[table.key[0]])) {
            return Mono.just(whole);
        }
        String key = TableName.quote(table.columns[table.key[0]]);
        return Sql.rows(sql, sqlLoop, "SELECT c.reltuples::int8::text, (SELECT min(" + key + ")::text FROM " + table.name.sql()
                + "), (SELECT max(" + key + ")::text FROM " + table.name.sql() + ") FROM pg_class c "
                + "WHERE c.oid = to_regclass($1)", 0, table.name.sql())
                .next()
                .flatMap(r -> {
                    if (r[1] == null) {
                        return Mono.just(whole);
                    }
                    BigInteger min = new BigInteger(r[1]);
                    BigInteger span = new BigInteger(r[2]).subtract(min).add(BigInteger.ONE);
                    long reltuples = Long.parseLong(r[0]);
                    // never analysed (-1): the keys' span stands for the rows
                    BigInteger rows = reltuples > 0 ? span.min(BigInteger.valueOf(reltuples)) : span;
                    BigInteger perRange = BigInteger.valueOf(options.snapshotRangeRows());
                    int ranges = rows.add(perRange).subtract(BigInteger.ONE).divide(perRange)
                            .min(BigInteger.valueOf(MAX_RANGES)).intValue();
                    if (ranges < 2) {
                        return Mono.just(whole);
                    }
                    String[] split = new String[ranges - 1];
                    for (int i = 1; i < ranges; i++) {
                        split[i - 1] = min.add(span.multiply(BigInteger.valueOf(i))
                                .divide(BigInteger.valueOf(ranges))).subtract(BigInteger.ONE).toString();
                    }
                    log.info("{}: table {} is copied in {} key ranges, split at {}", options.name(), name, ranges,
                            List.of(split));
                    source.rangeBounds.put(name, split);
                    return source.saveTable(name).thenReturn(rangeUnits(table, split));
                });
    }

    private List<Unit> rangeUnits(TableShape table, String[] bounds) {
        List<Unit> units = new ArrayList<>();
        for (int r = 0; r <= bounds.length; r++) {
            String state = source.rangeState.get(PostgresCdcSource.rangeKey(table.name.toString(), r));
            if (!DONE.equals(state)) {
                units.add(new Unit(table, r, r == 0 ? null : bounds[r - 1], r == bounds.length ? null : bounds[r],
                        PostgresCdcSource.afterKey(state)));
            }
        }
        return units;
    }

    /** The parts of the queue, one after the other, in one transaction of the connection (in the exported snapshot). */
    private Flux<Chunk> copyAll(PostgresqlConnection connection, Scheduler loop, Queue<Unit> queue) {
        Mono<Void> begin = Sql.execute(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .then(exportedSnapshot == null ? Mono.empty()
                        : Sql.execute(connection, "SET TRANSACTION SNAPSHOT '" + exportedSnapshot + "'"));
        return begin.thenMany(nextUnits(connection, loop, queue))
                .concatWith(Sql.execute(connection, "COMMIT").then(Mono.empty()));
    }

    private Flux<Chunk> nextUnits(PostgresqlConnection connection, Scheduler loop, Queue<Unit> queue) {
        return Flux.defer(() -> {
            Unit unit = queue.poll();
            if (unit == null) {
                return Flux.empty();
            }
            AtomicLong copied = source.copiedRows.computeIfAbsent(unit.table().name.toString(), t -> new AtomicLong());
            return pages(connection, loop, unit.table(), unit.after(), unit.lower(), unit.upper(), 0, unit.origin(),
                    copied, true).concatWith(nextUnits(connection, loop, queue));
        });
    }

    /**
     * The parts of the queue, one after the other, read with {@code COPY} on a JDBC connection of their own,
     * in one transaction (in the exported snapshot), with the session settings of the source's R2DBC
     * connections (values are read as text in the same forms). Its reads block a thread of their own.
     */
    private Flux<Chunk> copyAll(Unit first, Queue<Unit> queue) {
        return inCopyTransaction(c -> nextUnits(c, first, queue));
    }

    /**
     * What {@code read} reads on a JDBC connection of its own, in its read-only transaction (committed after
     * the last chunk), the reads made on a thread of their own: they block.
     */
    private Flux<Chunk> inCopyTransaction(java.util.function.Function<java.sql.Connection, Flux<Chunk>> read) {
        return Flux.using(this::snapshotConnection, c -> read.apply(c).concatWith(commit(c)), TableCopy::closeQuietly)
                .subscribeOn(reactor.core.scheduler.Schedulers.boundedElastic(), true);
    }

    private java.sql.Connection snapshotConnection() throws java.sql.SQLException {
        java.sql.Connection c = copy.connect();
        try (java.sql.Statement s = c.createStatement()) {
            for (Map.Entry<String, String> setting : PostgresCdcSource.SESSION_SETTINGS.entrySet()) {
                s.execute("SET " + setting.getKey() + " = " + PostgresCopy.literal(setting.getValue()));
            }
            s.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
            if (exportedSnapshot != null) {
                s.execute("SET TRANSACTION SNAPSHOT " + PostgresCopy.literal(exportedSnapshot));
            }
        } catch (java.sql.SQLException | RuntimeException e) {
            closeQuietly(c);
            throw e;
        }
        return c;
    }

    private static void closeQuietly(java.sql.Connection c) {
        try {
            c.close();
        } catch (java.sql.SQLException ignored) {
            // the connection is gone either way
        }
    }

    private Flux<Chunk> nextUnits(java.sql.Connection connection, Unit first, Queue<Unit> queue) {
        return Flux.defer(() -> {
            Unit unit = first != null ? first : queue.poll();
            if (unit == null) {
                return Flux.empty();
            }
            AtomicLong copied = source.copiedRows.computeIfAbsent(unit.table().name.toString(), t -> new AtomicLong());
            return chunks(copyPages(connection, query(unit.table(), unit.after(), unit.lower(), unit.upper(), null)),
                    unit.table(), 0, unit.origin(), copied, true).concatWith(nextUnits(connection, null, queue));
        });
    }

    /** Whether this copier reads with {@code COPY} (JDBC); else through R2DBC's portal ({@link #pages}). */
    boolean copies() {
        return copy != null;
    }

    /**
     * A table's rows as they are now, read with {@code COPY} on a JDBC connection of its own in a read-only
     * snapshot of its own, as chunks of this version (a resync): what {@link #pages} reads through R2DBC.
     */
    Flux<Chunk> copyOfTable(TableShape table, long version, String origin, AtomicLong copied) {
        return inCopyTransaction(c -> chunks(copyPages(c, query(table, null, null, null, null)), table, version, origin,
                copied, false));
    }

    private static Mono<Chunk> commit(java.sql.Connection c) {
        return Mono.fromCallable(() -> {
            try (java.sql.Statement s = c.createStatement()) {
                s.execute("COMMIT");
            }
            return 0;
        }).then(Mono.empty());
    }

    /** The rows of {@code query} read with {@code COPY}, a chunk's page ({@code chunkRows}, {@code chunkBytes}) a call. */
    private Flux<List<String[]>> copyPages(java.sql.Connection connection, String query) {
        ChunkLimit limit = new ChunkLimit(options.chunkRows(), options.chunkBytes());
        return Flux.using(() -> PostgresCopy.rows(connection, query), r -> Flux.<List<String[]>>generate(sink -> {
            try {
                List<String[]> page = new ArrayList<>(Math.min(options.chunkRows(), 4096));
                int fields;
                while ((fields = r.next()) != -1) {
                    String[] row = new String[fields];
                    for (int i = 0; i < fields; i++) {
                        row[i] = r.text();
                    }
                    page.add(row);
                    if (limit.add(textBytes(row))) {
                        break;
                    }
                }
                if (!page.isEmpty()) {
                    sink.next(page);
                }
                if (fields == -1) {
                    sink.complete();
                }
            } catch (java.io.IOException e) {
                sink.error(e);
            }
        }), r -> {
            try {
                r.close();
            } catch (java.io.IOException ignored) {
                // a copy cut short ends with its connection
            }
        });
    }

    /**
     * The chunks of a table's rows after {@code after} (null: all), of this version, read on {@code
     * connection} (in its transaction) in key order by one query through a portal, then the chunk that
     * completes the origin; {@code keepKeys}: each page's last key is kept for the snapshot's checkpoint.
     */
    Flux<Chunk> pages(PostgresqlConnection connection, Scheduler loop, TableShape table, String[] after,
            String lower, String upper, long version, String origin, AtomicLong copied, boolean keepKeys) {
        List<String> params = new ArrayList<>();
        String query = query(table, after, lower, upper, params);
        ChunkLimit limit = new ChunkLimit(options.chunkRows(), options.chunkBytes());
        return chunks(Sql.rows(connection, loop, query, options.chunkRows(), params.toArray())
                .bufferUntil(row -> limit.add(textBytes(row))), table, version, origin, copied, keepKeys);
    }

    /**
     * The query of a table's rows after {@code after}, in ({@code lower}, {@code upper}], in key order; the
     * values as parameters ({@code $n}, added to {@code params}), or, without {@code params}, as literals
     * (for {@code COPY}, which takes no parameters).
     */
    private static String query(TableShape table, String[] after, String lower, String upper, List<String> params) {
        StringBuilder q = selectText(table);
        java.util.function.Function<String, String> value = params == null ? PostgresCopy::literal : v -> {
            params.add(v);
            return "$" + params.size();
        };
        // the key qualified by the alias: a bare name in ORDER BY means the output column (its text)
        q.append(" FROM ").append(table.name.sql()).append(" t");
        List<String> conditions = new ArrayList<>();
        if (after != null) {
            StringBuilder c = new StringBuilder("(");
            Sql.keyList(c, table);
            c.append(") > (");
            for (int i = 0; i < table.key.length; i++) {
                c.append(i == 0 ? "" : ", ").append("CAST(").append(value.apply(after[i])).append(" AS ")
                        .append(table.sqlTypes[table.key[i]]).append(')');
            }
            conditions.add(c.append(')').toString());
        }
        // a key range (of a one-column key): (lower, upper]
        String keyType = table.sqlTypes[table.key[0]];
        String key = "t." + TableName.quote(table.columns[table.key[0]]);
        if (lower != null) {
            conditions.add(key + " > CAST(" + value.apply(lower) + " AS " + keyType + ")");
        }
        if (upper != null) {
            conditions.add(key + " <= CAST(" + value.apply(upper) + " AS " + keyType + ")");
        }
        if (!conditions.isEmpty()) {
            q.append(" WHERE ").append(String.join(" AND ", conditions));
        }
        q.append(" ORDER BY ");
        Sql.keyList(q, table);
        return q.toString();
    }

    /** A chunk of each of these pages of rows (texts), then the chunk that completes the origin. */
    private Flux<Chunk> chunks(Flux<List<String[]>> rows, TableShape table, long version, String origin, AtomicLong copied,
            boolean keepKeys) {
        AtomicLong pages = new AtomicLong();
        return rows
                .map(page -> {
                    long bytes = 0;
                    for (String[] text : page) {
                        bytes += textBytes(text);
                    }
                    copied.addAndGet(page.size());
                    long n = pages.incrementAndGet();
                    if (keepKeys) {
                        source.pageKeys.put(origin + "#" + n, KeyText.encode(table.keyText(page.get(page.size() - 1))));
                    }
                    // converted by the pusher's parse threads: the connection's event loop only reads
                    return Chunk.raw(origin, Offset.of(n), bytes, () -> inserts(table, page, version), false);
                })
                .concatWith(Mono.fromSupplier(() -> Chunk.end(origin, Offset.of(pages.incrementAndGet()))));
    }

    /**
     * The rows of these keys as they are in {@code connection}'s transaction: a key's row as an insert of
     * this version, a key without a row as a delete of it; in chunks, the last of which completes the
     * origin. A key is the text of its column, or of each of its columns joined by U+001F (verify's key
     * text, which is the column's PostgreSQL text for integers, text and uuids).
     */
    Flux<Chunk> keyed(PostgresqlConnection connection, Scheduler loop, TableShape table, List<String> keys,
            long version, String origin, AtomicLong copied) {
        StringBuilder q = selectText(table);
        q.append(" FROM ").append(table.name.sql()).append(" t WHERE ");
        if (table.key.length == 1) {
            String key = "t." + TableName.quote(table.columns[table.key[0]]);
            String keyType = table.sqlTypes[table.key[0]];
            q.append(keyType == null ? key + "::text = ANY(CAST($1 AS text[]))"
                    : key + " = ANY(CAST(CAST($1 AS text[]) AS " + keyType + "[]))");
        } else {
            q.append("concat_ws(chr(31)");
            for (int k : table.key) {
                q.append(", t.").append(TableName.quote(table.columns[k])).append("::text");
            }
            q.append(") = ANY(CAST($1 AS text[]))");
        }
        return Sql.rows(connection, loop, q.toString(), 0, (Object) keys.toArray(String[]::new))
                .collectList()
                .flatMapMany(rows -> {
                    java.util.Set<String> gone = new java.util.LinkedHashSet<>(keys);
                    rows.forEach(row -> {
                        String[] texts = new String[table.key.length];
                        for (int i = 0; i < texts.length; i++) {
                            texts[i] = row[table.key[i]];
                        }
                        gone.remove(String.join("\u001F", texts));
                    });
                    copied.addAndGet(rows.size());
                    List<ChangeItem> items = new ArrayList<>(inserts(table, rows, version));
                    for (String k : gone) {
                        items.add(ChangeItem.delete(table.id, table.keyColumns.row(table.keyValues(
                                k.split("\u001F", -1))), version));
                    }
                    List<List<ChangeItem>> parts = new ArrayList<>();
                    for (int i = 0; i < items.size(); i += options.chunkRows()) {
                        parts.add(items.subList(i, Math.min(items.size(), i + options.chunkRows())));
                    }
                    return Flux.range(0, parts.size()).map(i -> Chunk.of(origin, Offset.of(i + 1L), parts.get(i),
                            i == parts.size() - 1));
                });
    }

    /** {@code SELECT} every column of the table as text, in order (the rest of the query follows). */
    private static StringBuilder selectText(TableShape table) {
        StringBuilder q = new StringBuilder("SELECT ");
        for (int i = 0; i < table.columns.length; i++) {
            q.append(i == 0 ? "" : ", ").append(TableName.quote(table.columns[i])).append("::text");
        }
        return q;
    }

    /** The rows of these texts, as inserts of this version. */
    private static List<ChangeItem> inserts(TableShape table, List<String[]> page, long version) {
        List<ChangeItem> items = new ArrayList<>(page.size());
        for (String[] text : page) {
            Object[] values = new Object[text.length];
            for (int i = 0; i < text.length; i++) {
                values[i] = TextValues.convert(table.types[i], text[i]);
            }
            items.add(table.item(ChangeItem.Kind.INSERT, values, version, null, table.estimateSize(values)));
        }
        return items;
    }

    /**
     * A chunk's bounds: {@link #add} counts a row of so many bytes and says whether the chunk is full
     * ({@code chunkRows} rows or {@code chunkBytes} bytes), starting the next one when it is.
     */
    static final class ChunkLimit {

        private final int chunkRows;
        private final long chunkBytes;
        private int rows;
        private long bytes;

        ChunkLimit(int chunkRows, long chunkBytes) {
            this.chunkRows = chunkRows;
            this.chunkBytes = chunkBytes;
        }

        boolean add(long rowBytes) {
            bytes += rowBytes;
            if (++rows < chunkRows && bytes < chunkBytes) {
                return false;
            }
            reset();
            return true;
        }

        void reset() {
            rows = 0;
            bytes = 0;
        }
    }

    /** A snapshot row's size as it is read: its texts (twice, as chars) and their headers. */
    private static long textBytes(String[] row) {
        long bytes = 0;
        for (String v : row) {
            bytes += v == null ? 8 : 48 + 2L * v.length();
        }
        return bytes;
    }
}
