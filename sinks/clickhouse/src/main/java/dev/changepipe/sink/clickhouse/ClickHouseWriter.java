package dev.changepipe.sink.clickhouse;

import com.clickhouse.client.api.Client;
import com.clickhouse.client.api.insert.InsertResponse;
import com.clickhouse.client.api.insert.InsertSettings;
import com.clickhouse.client.api.query.QueryResponse;
import com.clickhouse.data.ClickHouseFormat;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.OnBadRecord;
import dev.changepipe.spi.TableDigest;
import java.io.BufferedInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/** The {@link ClickHouseSink}: see its javadoc for the guarantees. */
@SuppressWarnings("try") // QueryResponse and InsertResponse declare close() throws Exception
final class ClickHouseWriter implements ClickHouseSink {

    private static final Logger log = LoggerFactory.getLogger(ClickHouseWriter.class);
    private static final long REQUEST_TIMEOUT_SECONDS = 3600;
    /** Codes after which the table's columns are read again: unknown column, identifier, table, database. */
    private static final List<Integer> SCHEMA_CODES = List.of(16, 47, 60, 81);

    private final ClickHouseSinkOptions options;
    private final Endpoints endpoints;
    private final Map<String, TableWriter> tables = new ConcurrentHashMap<>();
    /**
     * Completes once the write subscribed last has ended (however it ended): a write that reads back
     * its deletes' positions waits for it. Writes are subscribed in push order, and at most two are in
     * flight ({@link #maxWritesInFlight}), so the last one is the only other.
     */
    private final AtomicReference<Mono<Void>> lastWrite = new AtomicReference<>(Mono.empty());
    /** The collapsing mode's knowledge of keys without a read (per target table). */
    private final WrittenKeys written;
    private volatile ServerVersion version;
    /** Distributed tables whose engine could not be checked, warned about once. */
    private final Set<String> warnedUnchecked = ConcurrentHashMap.newKeySet();
    private final List<java.util.function.Consumer<Throwable>> retryListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Digests of the target tables, for verify ({@link TableDigest}). */
    private final ClickHouseDigests digests;
    /** With the connection's {@code shards}: each shard's replicas, and the routing read from the cluster. */
    private final List<Endpoints> shards;
    private final Mono<ShardRouter> router;
    /** The router once read (set before any table is routed). */
    private volatile ShardRouter resolvedRouter;
    /** The tables written to their shards directly, with the column that routes their rows. */
    private final Map<TableWriter, Integer> routed = new ConcurrentHashMap<>();

    ClickHouseWriter(ClickHouseSinkOptions options, Endpoints endpoints) {
        this.options = options;
        this.endpoints = endpoints;
        this.written = new WrittenKeys(options.collapsingCacheKeys(), options.collapsingCacheBytes());
        this.digests = new ClickHouseDigests(options,
                (table, what, sql) -> retry(endpoints.call(table, what, client -> rows(client, sql)), what),
                table -> retry(endpoints.call(table, "read the columns of " + table,
                        client -> describe(client, options.database(), table)), "read the columns of " + table));
        this.shards = options.shards().stream().map(replicas -> new Endpoints(options, replicas)).toList();
        this.router = shards.isEmpty() ? Mono.empty() : shardWeights().map(ShardRouter::of).cache();
    }

    /**
     * The weights of the cluster's shards from {@code system.clusters}, in {@code remote_servers} order;
     * fails (permanently) when the cluster has another number of shards than the connection lists.
     */
    private Mono<List<Integer>> shardWeights() {
        String what = "read the shards of cluster " + options.cluster();
        String sql = "SELECT shard_num, any(shard_weight) FROM system.clusters WHERE cluster = "
                + Sql.string(options.cluster()) + " GROUP BY shard_num ORDER BY shard_num";
        return retry(endpoints.call("system.clusters", what, client -> rows(client, sql)), what).map(rows -> {
            if (rows.size() != shards.size()) {
                throw new ClickHouseWriteException(options.name(), "system.clusters", null, "cluster "
                        + options.cluster() + " has " + rows.size() + " shard(s) in system.clusters, and the connection's"
                        + " shards list " + shards.size() + "; list each shard's replicas, in remote_servers order",
                        null, false, 0, 0);
            }
            return rows.stream().map(r -> Integer.parseInt(r[1])).toList();
        });
    }

    @Override
    public Mono<TableDigest.Target> target(String sourceTable) {
        return digests.target(sourceTable);
    }

    @Override
    public String canonical(String sourceTable, TableDigest.Column column, Object value) {
        return digests.canonical(sourceTable, column, value);
    }

    @Override
    public Mono<Map<Integer, TableDigest.Digest>> buckets(String sourceTable, TableDigest.Shape shape) {
        return digests.buckets(sourceTable, shape);
    }

    @Override
    public Mono<Map<String, Long>> hashes(String sourceTable, TableDigest.Shape shape, Set<Integer> buckets) {
        return digests.hashes(sourceTable, shape, buckets);
    }

    @Override
    public Mono<Map<String, String>> rows(String sourceTable, TableDigest.Shape shape, Collection<String> keys) {
        return digests.rows(sourceTable, shape, keys);
    }

    @Override
    public String name() {
        return options.name();
    }

    @Override
    public ClickHouseSinkOptions options() {
        return options;
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return writeBatch(List.of(chunk));
    }

    /**
     * One write for the whole batch: the items of every chunk grouped by table, in push order, and one
     * {@code INSERT} per table (collapsing mode: one read of the previous rows per table too). Append
     * mode numbers its rows per chunk, so it writes chunk by chunk.
     */
    @Override
    public Mono<Void> writeBatch(List<Chunk> batch) {
        // a delete whose tombstones take their positions from the rows ClickHouse holds: the write
        // before it (in flight beside it) may be sending the key's last rows, so it waits for that one
        boolean waits = readsBackPositions(batch);
        return Mono.defer(() -> {
            Sinks.Empty<Void> done = Sinks.empty();
            Mono<Void> previous = lastWrite.getAndSet(done.asMono());
            return (waits ? previous.then(writeNow(batch)) : writeNow(batch)).doFinally(signal -> done.tryEmitEmpty());
        });
    }

    /**
     * Whether a delete of the batch may read back its key's positions ({@link #writeReplacing}): a table
     * with tombstone columns, or one not described yet.
     */
    private boolean readsBackPositions(List<Chunk> batch) {
        for (Chunk chunk : batch) {
            if (chunk.prepared() instanceof EncodedRows.Prepared) {
                continue; // saves and plain deletes only
            }
            for (ChangeItem item : chunk.items()) {
                if (!item.kind().isSave() && options.mode(item.table()) == WriteMode.REPLACING) {
                    TableWriter table = tables.get(item.table());
                    if (table == null || table.tombstoneColumns().length > 0) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private Mono<Void> writeNow(List<Chunk> batch) {
        List<Chunk> prepared = new ArrayList<>();
        List<Chunk> unprepared = new ArrayList<>();
        for (Chunk chunk : batch) {
            (chunk.prepared() instanceof EncodedRows.Prepared ? prepared : unprepared).add(chunk);
        }
        if (prepared.isEmpty()) {
            return writeItems(batch);
        }
        // prepared rows first: a delete among the others whose tombstone reads back its row's position
        // finds those rows in ClickHouse (prepared chunks are replacing-mode saves and plain deletes,
        // which commute with every other write under versions)
        return writePrepared(prepared).then(unprepared.isEmpty() ? Mono.empty() : writeItems(unprepared));
    }

    /**
     * Encodes, on the parse thread, the items of a chunk whose tables are all written by one streamed
     * {@code INSERT} in replacing mode (RowBinary, no DEFAULT expressions, no tombstone read back), so
     * that the chunk holds a few dozen bytes a row until its write instead of its items. Any other chunk
     * (a table not resolved yet, another mode, an item the table refuses) is written from its items.
     */
    @Override
    public Chunk prepare(Chunk chunk) {
        if (options.format() != InsertFormat.ROW_BINARY || chunk.items().isEmpty()) {
            return chunk;
        }
        try {
            Map<String, List<ChangeItem>> byTable = byTable(chunk.items());
            List<EncodedRows> tablesRows = new ArrayList<>(byTable.size());
            long bytes = 64;
            for (Map.Entry<String, List<ChangeItem>> e : byTable.entrySet()) {
                TableWriter table = tables.get(e.getKey());
                List<ChangeItem> items = e.getValue();
                if (table == null || table.mode() != WriteMode.REPLACING || table.hasDefaultExpressions()
                        || needsTombstoneValues(table, items)) {
                    return chunk;
                }
                Integer column = routed.get(table);
                List<? extends List<?>> parts = column == null ? List.of(items) : byShard(table, column, items);
                for (int shard = 0; shard < parts.size(); shard++) {
                    List<?> part = parts.get(shard);
                    if (part.isEmpty()) {
                        continue;
                    }
                    byte[] rows = new ItemEncoder(table, part.size()).encode(part, 0, part.size(), null);
                    tablesRows.add(new EncodedRows(table, rows, part.size(), column == null ? -1 : shard));
                    bytes += EncodedRows.OVERHEAD_BYTES + rows.length;
                }
            }
            return chunk.prepared(new EncodedRows.Prepared(tablesRows), bytes);
        } catch (RuntimeException e) {
            return chunk; // an item the table refuses: its write finds it and dead-letters it
        }
    }

    /** One {@code INSERT} per table of the encoded rows of every prepared chunk, in push order. */
    private Mono<Void> writePrepared(List<Chunk> chunks) {
        return Mono.defer(() -> {
            Map<TableWriter, List<EncodedRows>> byTable = new LinkedHashMap<>();
            for (Chunk chunk : chunks) {
                for (EncodedRows encoded : ((EncodedRows.Prepared) chunk.prepared()).tables()) {
                    TableWriter table = encoded.table();
                    if (tables.get(table.sourceTable()) != table) {
                        return Mono.error(new ClickHouseWriteException(options.name(), table.target(), null,
                                "table " + table.target() + " was described again (its columns changed?) while "
                                        + chunk + " waited, encoded for the columns it had; the pipeline's restart"
                                        + " encodes it again", null, true, 0, 0));
                    }
                    byTable.computeIfAbsent(table, t -> new ArrayList<>()).add(encoded);
                }
            }
            return serverVersion().flatMap(server -> Flux.fromIterable(byTable.entrySet())
                    .concatMap(e -> {
                        TableWriter table = e.getKey();
                        String token = server.supportsInsertDeduplicationToken() ? token(chunks, table.target(), 0) : null;
                        // one insert into the table, or one into each shard's local table at once
                        Map<Integer, List<EncodedRows>> byShard = new java.util.TreeMap<>();
                        for (EncodedRows rows : e.getValue()) {
                            byShard.computeIfAbsent(rows.shard(), s -> new ArrayList<>()).add(rows);
                        }
                        return Flux.fromIterable(byShard.entrySet()).flatMap(part -> {
                            List<byte[]> slices = part.getValue().stream().map(EncodedRows::rows).toList();
                            int rows = part.getValue().stream().mapToInt(EncodedRows::count).sum();
                            int shard = part.getKey();
                            return shard < 0
                                    ? insertEncoded(endpoints, table.target(), table, table.allColumns(), rows,
                                            Mono.just(slices), token, true)
                                    : insertIntoShard(shard, table, table.allColumns(), rows, Mono.just(slices), token,
                                            true);
                        }, Math.max(1, shards.size()))
                                .then()
                                .doOnError(ClickHouseWriteException.class,
                                        error -> forgetOnSchemaError(table.sourceTable(), error));
                    })
                    .then());
        });
    }

    /** Writes the items of the chunks: one write for the batch, grouped by table (see {@link #writeBatch}). */
    private Mono<Void> writeItems(List<Chunk> batch) {
        return Mono.defer(() -> {
            List<ChangeItem> all;
            if (batch.size() == 1) {
                all = batch.get(0).items(); // not copied: the common case of a single chunk
            } else {
                all = new ArrayList<>();
                for (Chunk chunk : batch) {
                    all.addAll(chunk.items());
                }
            }
            if (all.isEmpty()) {
                return Mono.empty();
            }
            Map<String, List<ChangeItem>> byTable = byTable(all);
            return Flux.fromIterable(byTable.entrySet())
                    .concatMap(e -> options.mode(e.getKey()) == WriteMode.APPEND && batch.size() > 1
                            ? Flux.fromIterable(batch).concatMap(chunk -> {
                                List<ChangeItem> items = itemsOf(chunk, e.getKey());
                                return items.isEmpty() ? Mono.<Void>empty()
                                        : writeTable(List.of(chunk), e.getKey(), items);
                            })
                            : writeTable(batch, e.getKey(), e.getValue()))
                    .then();
        });
    }

    /** Writes commute in replacing and append modes (versions, chunk markers); collapsing reads first. */
    @Override
    public int maxWritesInFlight() {
        if (options.defaultMode() == WriteMode.COLLAPSING) {
            return 1;
        }
        for (TableOptions t : options.tables().values()) {
            if (t.mode() == WriteMode.COLLAPSING) {
                return 1;
            }
        }
        return 2;
    }

    private static List<ChangeItem> itemsOf(Chunk chunk, String table) {
        List<ChangeItem> items = new ArrayList<>();
        for (ChangeItem item : chunk.items()) {
            if (item.table().equals(table)) {
                items.add(item);
            }
        }
        return items;
    }

    /**
     * The items grouped by table, in first-seen order. A chunk of one table (the common case) is
     * not copied: one pass that compares table names, mostly by reference.
     */
    private static Map<String, List<ChangeItem>> byTable(List<ChangeItem> items) {
        String first = items.get(0).table();
        int i = 1;
        while (i < items.size()) {
            String t = items.get(i).table();
            if (t != first && !t.equals(first)) {
                break;
            }
            i++;
        }
        if (i == items.size()) {
            return Map.of(first, items);
        }
        Map<String, List<ChangeItem>> byTable = new LinkedHashMap<>();
        for (ChangeItem item : items) {
            byTable.computeIfAbsent(item.table(), t -> new ArrayList<>()).add(item);
        }
        return byTable;
    }

    @Override
    public Mono<Void> close() {
        return Mono.fromRunnable(() -> {
            endpoints.close();
            shards.forEach(Endpoints::close);
        });
    }

    /**
     * Writes the items of one table from {@code chunks} (one chunk in append mode). When an item is
     * refused for its own content and the sink dead-letters such items, every refused item of the
     * write is found, stored as a dead letter, and the others are written.
     */
    private Mono<Void> writeTable(List<Chunk> chunks, String sourceTable, List<ChangeItem> items) {
        return writeTableOnce(chunks, sourceTable, items)
                .onErrorResume(e -> e instanceof ClickHouseWriteException c && c.isBadRecord() && isolating(),
                        e -> isolate(chunks, sourceTable, items, (ClickHouseWriteException) e));
    }

    private boolean isolating() {
        return options.onBadRecord() == OnBadRecord.DEAD_LETTER && options.deadLetters() != null;
    }

    /**
     * Finds the items of a failed write that the sink refuses, stores them as dead letters (durably,
     * before the write completes, so before the chunk can be acknowledged) and writes the others. Rare:
     * only a write that holds a bad record pays for converting its items twice.
     */
    private Mono<Void> isolate(List<Chunk> chunks, String sourceTable, List<ChangeItem> items,
            ClickHouseWriteException first) {
        return Mono.defer(() -> {
            TableWriter table = tables.get(sourceTable);
            Map<ChangeItem, String> originOf = new IdentityHashMap<>();
            for (Chunk chunk : chunks) {
                for (ChangeItem item : chunk.items()) {
                    originOf.put(item, chunk.origin());
                }
            }
            DeadLetterStore store = options.deadLetters();
            List<ChangeItem> good = new ArrayList<>(items.size());
            List<DeadLetter> letters = new ArrayList<>();
            for (ChangeItem item : items) {
                ClickHouseWriteException refused = table == null ? first : table.rejection(item);
                if (refused == null) {
                    good.add(item);
                } else {
                    letters.add(DeadLetter.ofItem(store.pipeline(), options.name(), originOf.getOrDefault(item, ""),
                            item, refused.badRecordCause(), refused.getMessage()));
                }
            }
            if (letters.isEmpty()) {
                return Mono.error(first); // not an item's fault after all: fail as the write did
            }
            log.debug("{}: {} of {} items of {} refused, to the dead letters", options.name(), letters.size(),
                    items.size(), sourceTable);
            Mono<Integer> stored = Mono.fromCallable(() -> store.append(letters))
                    .subscribeOn(Schedulers.boundedElastic());
            return good.isEmpty() ? stored.then() : stored.then(writeTableOnce(chunks, sourceTable, good));
        });
    }

    private Mono<Void> writeTableOnce(List<Chunk> chunks, String sourceTable, List<ChangeItem> items) {
        return table(sourceTable)
                .flatMap(table -> {
                    switch (table.mode()) {
                        case COLLAPSING:
                            return writeCollapsing(table, items);
                        case APPEND:
                            return writeAppend(chunks.get(0), sourceTable, table, items);
                        default:
                            if (needsTombstoneValues(table, items)) {
                                return writeReplacing(chunks, table, items);
                            }
                            if (!table.hasDefaultExpressions()) {
                                return insertAll(chunks, table, List.of(table.streamed(items)));
                            }
                            return insertAll(chunks, table, table.inserts(rows(table, items)));
                    }
                })
                .doOnError(ClickHouseWriteException.class, e -> forgetOnSchemaError(sourceTable, e));
    }

    /** After an error that says the table changed, its columns are read again by the next write. */
    private void forgetOnSchemaError(String sourceTable, ClickHouseWriteException e) {
        if (SCHEMA_CODES.contains(e.errorCode())) {
            tables.remove(sourceTable); // read the columns again next time
            written.forgetTable(options.targetTable(sourceTable)); // it may be made again, empty
        }
    }

    private static List<TableWriter.Row> rows(TableWriter table, List<ChangeItem> items) {
        List<TableWriter.Row> rows = new ArrayList<>(items.size());
        for (ChangeItem item : items) {
            boolean save = item.kind().isSave();
            rows.add(table.row(item, save, !save, 1));
        }
        return rows;
    }

    // ---------------------------------------------------------------- append

    /**
     * The append mode. With insert deduplication tokens the server drops a replayed insert. Without
     * them, the rows carry their chunk (origin, offset) and ordinal: the rows of this chunk already in
     * the table are counted and only the rest is inserted. That is exact because an interrupted insert
     * commits a prefix of its rows, in order, and the rows are numbered in the order they are sent. The
     * count and the inserts are retried together, so a retry after a half-committed attempt counts
     * again.
     */
    private Mono<Void> writeAppend(Chunk chunk, String sourceTable, TableWriter table, List<ChangeItem> items) {
        return serverVersion().flatMap(server -> {
            boolean tokens = server.supportsInsertDeduplicationToken();
            if (tokens) {
                boolean marked = table.originIndex() != TableWriter.NO_COLUMN
                        && table.offsetIndex() != TableWriter.NO_COLUMN && table.rowIndex() != TableWriter.NO_COLUMN;
                return insertAll(List.of(chunk), table, appendInserts(table, items, marked ? chunk : null, 0));
            }
            try {
                table.requireChunkColumns(options.database());
            } catch (ClickHouseWriteException e) {
                tables.remove(sourceTable); // read the columns again next time (after an ALTER)
                return Mono.error(e);
            }
            String what = "append " + items.size() + " rows of chunk " + chunk.origin() + "@" + chunk.offset()
                    + " to " + table.target();
            return retry(Mono.defer(() -> countChunkRows(table, chunk).flatMap(count -> {
                if (count > items.size()) {
                    return Mono.error(new ClickHouseWriteException(options.name(), table.target(), null, "table "
                            + options.database() + "." + table.target() + " holds " + count + " rows of chunk "
                            + chunk.origin() + "@" + chunk.offset() + " but the chunk has only " + items.size()
                            + " rows for it: the chunk is not the one written before (a source that does not"
                            + " replay the same items at the same offset?), or the rows were copied; refusing to"
                            + " write", null, false, 0, 0));
                }
                if (count == items.size()) {
                    log.debug("{}: chunk {}@{} is in {} already ({} rows), nothing to insert", options.name(),
                            chunk.origin(), chunk.offset(), table.target(), count);
                    return Mono.empty();
                }
                if (count > 0) {
                    log.info("{}: chunk {}@{}: {} of {} rows are in {} already (a replay); inserting the rest",
                            options.name(), chunk.origin(), chunk.offset(), count, items.size(), table.target());
                }
                List<TableWriter.Insert> inserts = appendInserts(table, items, chunk, (int) (long) count);
                return Flux.fromIterable(inserts).concatMap(insert -> insertOnce(table, insert, null)).then();
            })), what);
        });
    }

    /**
     * The inserts of a chunk's append rows for a table, numbered in the order they are sent (the
     * chunk's order, or group by group when rows leave out different DEFAULT columns), less the first
     * {@code skip} of them; without a chunk, not numbered.
     */
    private static List<TableWriter.Insert> appendInserts(TableWriter table, List<ChangeItem> items, Chunk chunk,
            int skip) {
        if (chunk == null) {
            return table.hasDefaultExpressions() ? table.inserts(rows(table, items))
                    : List.of(table.streamed(items));
        }
        if (!table.hasDefaultExpressions()) {
            return List.of(table.streamed(items.subList(skip, items.size()),
                    new TableWriter.ChunkRows(chunk.origin(), chunk.offset().value(), skip)));
        }
        return table.inserts(rows(table, items), chunk.origin(), chunk.offset().value(), skip);
    }

    /** How many rows of this chunk the table holds (one attempt; the caller retries). */
    private Mono<Long> countChunkRows(TableWriter table, Chunk chunk) {
        String sql = "SELECT count() FROM " + Sql.table(options.database(), table.target())
                + " WHERE " + Sql.identifier(table.originColumn()) + " = " + Sql.string(chunk.origin())
                + " AND " + Sql.identifier(table.offsetColumn()) + " = " + Long.toUnsignedString(chunk.offset().value())
                + " FORMAT TabSeparated";
        return endpoints.call(table.target(), "count the rows of chunk " + chunk.origin() + "@" + chunk.offset()
                + " in " + table.target(), client -> Long.parseLong(queryText(client, sql)));
    }

    // ---------------------------------------------------------------- replacing: tombstones

    /** Whether some delete of the items needs tombstone values (see {@link TableWriter#tombstoneColumns()}). */
    private static boolean needsTombstoneValues(TableWriter table, List<ChangeItem> items) {
        if (table.tombstoneColumns().length == 0) {
            return false;
        }
        for (ChangeItem item : items) {
            if (!item.kind().isSave() && table.tombstoneColumns(item).length > 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * The replacing mode on a table whose partition or sorting key uses columns other than the key: every
     * tombstone carries those columns' values, so that it lands in the partition and sorting position of
     * the row it deletes. They come from the delete's before-image when it has them all; otherwise from
     * the rows ClickHouse holds for the key (read once per write, {@code keysPerLookup} keys per query)
     * and the saves of the key in this write: one tombstone per distinct position found (a key whose
     * partition column changed has rows in several partitions), a plain one when there is none (a key
     * never seen hides nothing). Rows keep the items' order.
     */
    private Mono<Void> writeReplacing(List<Chunk> chunks, TableWriter table, List<ChangeItem> items) {
        return Mono.defer(() -> {
            List<Object> slots = new ArrayList<>(items.size()); // a Row, or a Lookup to fill in
            Map<String, List<Lookup>> lookups = new LinkedHashMap<>(); // by key columns
            for (ChangeItem item : items) {
                if (item.kind().isSave()) {
                    slots.add(table.row(item, true, false, 1));
                    continue;
                }
                int[] keyColumns = table.keyColumns(item);
                int[] columns = table.tombstoneColumns(item);
                Object[] image = table.image(item, columns);
                if (columns.length == 0 || image != null) {
                    slots.add(table.tombstone(item, image, columns));
                } else {
                    Object[] keyRow = table.row(item, false, true, 1).values();
                    Lookup lookup = new Lookup(item, keyColumns, columns, keyRow, table.keyOf(keyRow, keyColumns));
                    lookups.computeIfAbsent(Arrays.toString(keyColumns), k -> new ArrayList<>()).add(lookup);
                    slots.add(lookup);
                }
            }
            if (lookups.isEmpty()) {
                return insertAll(chunks, table, table.inserts(rowsOf(slots)));
            }
            return Flux.fromIterable(lookups.values())
                    .concatMap(group -> positions(table, group))
                    .<Map<String, List<Object[]>>>collect(HashMap::new, Map::putAll)
                    .flatMap(held -> {
                        // saves in this write are not in ClickHouse yet: their positions count too
                        for (List<Lookup> group : lookups.values()) {
                            int[] keyColumns = group.get(0).keyColumns();
                            Set<String> keys = new HashSet<>();
                            group.forEach(l -> keys.add(l.key()));
                            for (Object slot : slots) {
                                if (slot instanceof TableWriter.Row row && isSave(table, row)) {
                                    String key = table.keyOf(row.values(), keyColumns);
                                    if (keys.contains(key)) {
                                        held.computeIfAbsent(key, k -> new ArrayList<>()).add(row.values());
                                    }
                                }
                            }
                        }
                        List<TableWriter.Row> rows = new ArrayList<>(slots.size());
                        for (Object slot : slots) {
                            if (slot instanceof TableWriter.Row row) {
                                rows.add(row);
                                continue;
                            }
                            Lookup l = (Lookup) slot;
                            Map<String, Object[]> positions = new LinkedHashMap<>();
                            for (Object[] values : held.getOrDefault(l.key(), List.of())) {
                                positions.putIfAbsent(table.keyOf(values, l.columns()), values);
                            }
                            if (positions.isEmpty()) {
                                rows.add(table.tombstone(l.delete(), null, l.columns())); // nothing to hide
                            }
                            for (Object[] image : positions.values()) {
                                rows.add(table.tombstone(l.delete(), image, l.columns()));
                            }
                        }
                        // what is written depends on what was read: no deduplication token (as collapsing)
                        return insertAll(null, table, table.inserts(rows));
                    });
        });
    }

    /** A delete whose tombstone values are read back: its key columns, tombstone columns and key. */
    private record Lookup(ChangeItem delete, int[] keyColumns, int[] columns, Object[] keyRow, String key) {
    }

    private static boolean isSave(TableWriter table, TableWriter.Row row) {
        return row.values()[table.deletedIndex()] instanceof Long d && d == 0L;
    }

    private static List<TableWriter.Row> rowsOf(List<Object> slots) {
        List<TableWriter.Row> rows = new ArrayList<>(slots.size());
        for (Object slot : slots) {
            rows.add((TableWriter.Row) slot);
        }
        return rows;
    }

    /**
     * The distinct positions (key and tombstone column values, as rows of canonical values indexed by
     * column; other columns null) ClickHouse holds for the keys of the deletes, by key identity
     * ({@link TableWriter#keyOf}).
     */
    private Mono<Map<String, List<Object[]>>> positions(TableWriter table, List<Lookup> group) {
        int[] keyColumns = group.get(0).keyColumns();
        int[] columns = IntStream.concat(Arrays.stream(keyColumns), Arrays.stream(group.get(0).columns())).toArray();
        ColumnType[] types = new ColumnType[columns.length];
        List<String> names = new ArrayList<>(columns.length);
        for (int i = 0; i < columns.length; i++) {
            types[i] = table.types()[columns[i]];
            names.add(Sql.identifier(table.columns().get(columns[i]).name()));
        }
        List<Object[]> keyRows = new ArrayList<>(group.size());
        group.forEach(l -> keyRows.add(l.keyRow()));
        String select = "SELECT DISTINCT " + String.join(", ", names) + " FROM "
                + Sql.table(options.database(), table.target()) + " WHERE ";
        String what = "read the partition and sorting key values of deleted keys of " + table.target();
        return Flux.fromIterable(partition(keyRows, options.keysPerLookup()))
                .concatMap(part -> {
                    String sql = select + keyCondition(table, keyColumns, part) + " FORMAT RowBinary";
                    return retry(endpoints.call(table.target(), what, client -> {
                        Map<String, List<Object[]>> held = new HashMap<>();
                        try (QueryResponse response = client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                                InputStream in = new BufferedInputStream(response.getInputStream(), 65536)) {
                            RowBinaryReader reader = new RowBinaryReader(in);
                            Object[] read;
                            while ((read = reader.readRow(types)) != null) {
                                Object[] values = new Object[table.types().length];
                                for (int i = 0; i < columns.length; i++) {
                                    values[columns[i]] = read[i];
                                }
                                held.computeIfAbsent(table.keyOf(values, keyColumns), k -> new ArrayList<>()).add(values);
                            }
                        }
                        return held;
                    }), what);
                })
                .<Map<String, List<Object[]>>>collect(HashMap::new, Map::putAll);
    }

    // ---------------------------------------------------------------- collapsing

    /**
     * The collapsing mode: per key, the last change of the write cancels the key's visible row and
     * writes the new one. What ClickHouse holds for a key comes from {@link WrittenKeys} when this sink
     * wrote the key last (and that write completed), or is known to be nothing when the key lies above
     * the table's key bound; the other keys are read back, in one query per {@code keysPerLookup} keys.
     * All cancel rows are sent before all new rows, so that a write cut short leaves no key with a new
     * row whose cancel is missing. The read and the inserts are retried together: a retry reads every
     * key back (the failed attempt may have committed part of its rows) and writes what is missing.
     */
    private Mono<Void> writeCollapsing(TableWriter table, List<ChangeItem> items) {
        return Mono.defer(() -> {
            int[] keyColumns = table.keyColumns(items.get(0));
            // the last change of each key wins within the write; earlier ones would cancel each other
            int capacity = items.size() * 4 / 3 + 1; // sized once: a batch holds up to tens of thousands of keys
            Map<String, ChangeItem> last = new LinkedHashMap<>(capacity);
            Map<String, TableWriter.Row> lastRow = new LinkedHashMap<>(capacity);
            for (ChangeItem item : items) {
                TableWriter.Row row = table.row(item, item.kind().isSave(), false, 1);
                String key = table.keyOf(row.values(), keyColumns);
                ChangeItem previous = last.get(key);
                if (previous == null || item.version() >= previous.version()) {
                    last.put(key, item);
                    lastRow.put(key, row);
                }
            }
            String target = table.target();
            // untrusted from now until this write completes: a failure leaves them out, read back next time
            Map<String, WrittenKeys.Written> cached = written.take(target, last.keySet());
            int bounded = keyColumns.length == 1 && isInteger(table.types()[keyColumns[0]]) ? keyColumns[0]
                    : TableWriter.NO_COLUMN;
            boolean unsigned = bounded != TableWriter.NO_COLUMN && table.types()[bounded].kind() == ColumnType.Kind.UINT;
            boolean[] first = {true};
            Map<String, KeyState> after = new HashMap<>(capacity);
            Mono<Void> attempt = Mono.defer(() -> {
                Map<String, KeyState> known = new HashMap<>(capacity);
                if (first[0]) {
                    first[0] = false;
                    cached.forEach((k, w) -> known.put(k, new KeyState(w.maxVersion(), w.visible(), List.of())));
                }
                Mono<Void> bound = bounded == TableWriter.NO_COLUMN || known.size() == last.size()
                        ? Mono.empty() : loadBound(table, bounded, unsigned);
                return bound.then(Mono.defer(() -> {
                    Long above = bounded == TableWriter.NO_COLUMN ? null : written.bound(target);
                    List<Object[]> toRead = new ArrayList<>();
                    for (Map.Entry<String, TableWriter.Row> e : lastRow.entrySet()) {
                        if (known.containsKey(e.getKey())) {
                            continue;
                        }
                        if (above != null && e.getValue().values()[bounded] instanceof Long k
                                && (unsigned ? Long.compareUnsigned(k, above) : Long.compare(k, above)) > 0) {
                            continue; // above every key of the table: no row to cancel
                        }
                        toRead.add(e.getValue().values());
                    }
                    return keyStates(table, keyColumns, toRead);
                })).flatMap(read -> {
                    known.putAll(read);
                    List<TableWriter.Row> cancels = new ArrayList<>();
                    List<TableWriter.Row> saves = new ArrayList<>();
                    after.clear();
                    for (Map.Entry<String, ChangeItem> e : last.entrySet()) {
                        ChangeItem item = e.getValue();
                        KeyState state = known.get(e.getKey());
                        if (state != null) {
                            for (Object[] surplus : state.surplus()) {
                                cancels.add(cancel(table, surplus)); // left visible by an earlier write
                            }
                            if (state.maxVersion() >= item.version()) {
                                // already applied (a replay), or older than what is there
                                after.put(e.getKey(), new KeyState(state.maxVersion(), state.visible(), List.of()));
                                continue;
                            }
                            if (state.visible() != null) {
                                cancels.add(cancel(table, state.visible()));
                            }
                        }
                        TableWriter.Row row = lastRow.get(e.getKey());
                        if (item.kind().isSave()) {
                            saves.add(row);
                            if (!row.missing().isEmpty()) {
                                continue; // the server computes some of its values: not known here
                            }
                        }
                        after.put(e.getKey(), new KeyState(item.version(), item.kind().isSave() ? row.values() : null,
                                List.of()));
                    }
                    if (bounded != TableWriter.NO_COLUMN && written.bound(target) != null) {
                        for (TableWriter.Row row : lastRow.values()) {
                            if (row.values()[bounded] instanceof Long k) {
                                written.raiseBound(target, k, unsigned); // before anything is sent
                            }
                        }
                    }
                    cancels.addAll(saves);
                    return insertAllOnce(table, table.inserts(cancels));
                });
            });
            return retry(attempt, "collapsing write of " + last.size() + " keys to " + target)
                    .then(Mono.fromRunnable(() -> after.forEach((key, state) ->
                            written.put(target, key, state.maxVersion(), state.visible()))));
        });
    }

    private static boolean isInteger(ColumnType type) {
        return type.kind() == ColumnType.Kind.INT || type.kind() == ColumnType.Kind.UINT;
    }

    private static TableWriter.Row cancel(TableWriter table, Object[] visible) {
        Object[] cancel = visible.clone();
        cancel[table.signIndex()] = -1L;
        return new TableWriter.Row(cancel, new java.util.BitSet(0));
    }

    /** Reads the table's highest key into {@link WrittenKeys} once (one attempt; the caller retries). */
    private Mono<Void> loadBound(TableWriter table, int keyColumn, boolean unsigned) {
        if (written.bound(table.target()) != null) {
            return Mono.empty();
        }
        String sql = "SELECT max(" + Sql.identifier(table.columns().get(keyColumn).name()) + ") FROM "
                + Sql.table(options.database(), table.target()) + " FORMAT TabSeparated";
        return endpoints.call(table.target(), "read the highest key of " + table.target(), client -> {
            String text = queryText(client, sql);
            long max = unsigned ? Long.parseUnsignedLong(text) : Long.parseLong(text);
            written.raiseBound(table.target(), max, unsigned);
            return Boolean.TRUE;
        }).then();
    }

    /**
     * What ClickHouse holds for a key: the highest version of any of its rows (cancelled ones
     * included, until a merge collapses them), the visible row, if any, and rows left visible besides
     * it (an earlier write cut short, or one of an older release that retried an insert alone), each
     * as many times as it is to be cancelled.
     */
    private record KeyState(long maxVersion, Object[] visible, List<Object[]> surplus) {
    }

    /**
     * Reads every row of the keys (without FINAL, so that cancelled rows still tell which versions
     * were applied) in RowBinary and works out each key's state: per version, the rows with sign 1
     * minus those with sign -1; the visible row is the highest version with a positive balance. One
     * attempt per query (the caller retries the read with the write).
     */
    private Mono<Map<String, KeyState>> keyStates(TableWriter table, int[] keyColumns, List<Object[]> keyRows) {
        if (keyRows.isEmpty()) {
            return Mono.just(new HashMap<>());
        }
        ColumnType[] types = table.types();
        int vi = table.versionIndex();
        int si = table.signIndex();
        String select = "SELECT " + String.join(", ", table.columns().stream().map(c -> Sql.identifier(c.name())).toList())
                + " FROM " + Sql.table(options.database(), table.target()) + " WHERE ";
        return Flux.fromIterable(partition(keyRows, options.keysPerLookup()))
                .concatMap(part -> {
                    String sql = select + keyCondition(table, keyColumns, part) + " FORMAT RowBinary";
                    String what = "read current rows of " + table.target();
                    return endpoints.call(table.target(), what, client -> {
                        Map<String, Map<Long, Object[]>> rowsByVersion = new HashMap<>();
                        Map<String, Map<Long, Long>> balance = new HashMap<>();
                        Map<String, Long> maxVersion = new HashMap<>();
                        try (QueryResponse response = client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
                                InputStream in = new BufferedInputStream(response.getInputStream(), 65536)) {
                            RowBinaryReader reader = new RowBinaryReader(in);
                            Object[] row;
                            while ((row = reader.readRow(types)) != null) {
                                String key = table.keyOf(row, keyColumns);
                                long version = (Long) row[vi];
                                long sign = (Long) row[si];
                                maxVersion.merge(key, version, Math::max);
                                balance.computeIfAbsent(key, k -> new HashMap<>()).merge(version, sign, Long::sum);
                                if (sign > 0) {
                                    rowsByVersion.computeIfAbsent(key, k -> new HashMap<>()).put(version, row);
                                }
                            }
                        }
                        Map<String, KeyState> states = new HashMap<>();
                        for (Map.Entry<String, Long> e : maxVersion.entrySet()) {
                            long best = Long.MIN_VALUE;
                            boolean found = false;
                            for (Map.Entry<Long, Long> b : balance.get(e.getKey()).entrySet()) {
                                if (b.getValue() > 0 && (!found || b.getKey() > best)) {
                                    best = b.getKey();
                                    found = true;
                                }
                            }
                            Object[] visible = found ? rowsByVersion.get(e.getKey()).get(best) : null;
                            List<Object[]> surplus = new ArrayList<>();
                            for (Map.Entry<Long, Long> b : balance.get(e.getKey()).entrySet()) {
                                long extra = b.getKey() == best && found ? b.getValue() - 1 : b.getValue();
                                for (long i = 0; i < extra; i++) {
                                    surplus.add(rowsByVersion.get(e.getKey()).get(b.getKey()));
                                }
                            }
                            states.put(e.getKey(), new KeyState(e.getValue(), visible, surplus));
                        }
                        return states;
                    });
                })
                .collect(() -> new HashMap<String, KeyState>(), Map::putAll)
                .map(m -> (Map<String, KeyState>) m);
    }

    private static String keyCondition(TableWriter table, int[] keyColumns, List<Object[]> rows) {
        StringBuilder b = new StringBuilder();
        ColumnType[] types = table.types();
        if (keyColumns.length == 1) {
            b.append(Sql.identifier(table.columns().get(keyColumns[0]).name())).append(" IN (");
        } else {
            List<String> names = new ArrayList<>();
            for (int k : keyColumns) {
                names.add(table.columns().get(k).name());
            }
            b.append(Sql.identifiers(names)).append(" IN (");
        }
        for (int r = 0; r < rows.size(); r++) {
            if (r > 0) {
                b.append(", ");
            }
            if (keyColumns.length > 1) {
                b.append('(');
            }
            for (int i = 0; i < keyColumns.length; i++) {
                if (i > 0) {
                    b.append(", ");
                }
                b.append(Sql.literal(types[keyColumns[i]], rows.get(r)[keyColumns[i]]));
            }
            if (keyColumns.length > 1) {
                b.append(')');
            }
        }
        return b.append(')').toString();
    }

    private static <T> List<List<T>> partition(List<T> list, int size) {
        List<List<T>> parts = new ArrayList<>();
        for (int i = 0; i < list.size(); i += size) {
            parts.add(list.subList(i, Math.min(list.size(), i + size)));
        }
        return parts;
    }

    // ---------------------------------------------------------------- inserts

    /**
     * The inserts of a write of {@code chunks} (null: not deduplicated by token), in order; where the
     * server supports them, each with a deduplication token made of the chunks and its index.
     */
    private Mono<Void> insertAll(List<Chunk> chunks, TableWriter table, List<TableWriter.Insert> inserts) {
        if (inserts.isEmpty()) {
            return Mono.empty();
        }
        return serverVersion().flatMap(server -> Flux.range(0, inserts.size())
                .concatMap(i -> insert(table, inserts.get(i),
                        chunks != null && server.supportsInsertDeduplicationToken()
                                ? token(chunks, table.target(), i) : null))
                .then());
    }

    private Mono<Void> insert(TableWriter table, TableWriter.Insert insert, String token) {
        return insert(table, insert, token, true);
    }

    /** The inserts in order, each one attempt without a token (the caller retries them with what decided them). */
    private Mono<Void> insertAllOnce(TableWriter table, List<TableWriter.Insert> inserts) {
        return Flux.fromIterable(inserts).concatMap(insert -> insertOnce(table, insert, null)).then();
    }

    /** One attempt of an insert, not retried (the caller retries it together with what decided it). */
    private Mono<Void> insertOnce(TableWriter table, TableWriter.Insert insert, String token) {
        return insert(table, insert, token, false);
    }

    private Mono<Void> insert(TableWriter table, TableWriter.Insert insert, String token, boolean retried) {
        Integer column = routed.get(table);
        if (column != null) {
            return insertToShards(column, table, insert, token, retried);
        }
        // converted and encoded (in parallel) before anything is sent: a bad value fails the write
        // while the server has seen nothing; a retry sends the same bytes again
        Mono<List<byte[]>> encoded = Mono.fromCallable(() ->
                        SliceEncoder.encode(options.format(), table, insert, options.encodeThreads()))
                .subscribeOn(Schedulers.boundedElastic());
        return insertEncoded(endpoints, table.target(), table, insert.columns(), insert.rows().size(), encoded, token,
                retried);
    }

    /**
     * The rows of an insert, each to its shard's local table ({@code <target>_local}) on the first of
     * that shard's replicas that answers; the shards' inserts run at once and are retried each on its
     * own, so a shard that is down holds back only the completion of the write, not the other shards'
     * rows.
     */
    private Mono<Void> insertToShards(int column, TableWriter table, TableWriter.Insert insert,
            String token, boolean retried) {
        return Mono.fromCallable(() -> byShard(table, column, insert.rows()))
                .subscribeOn(Schedulers.boundedElastic())
                .flatMapMany(byShard -> Flux.range(0, shards.size()).filter(s -> !byShard.get(s).isEmpty())
                        .flatMap(s -> {
                            TableWriter.Insert part = new TableWriter.Insert(insert.columns(), byShard.get(s));
                            Mono<List<byte[]>> encoded = Mono.fromCallable(() ->
                                            SliceEncoder.encode(options.format(), table, part, options.encodeThreads()))
                                    .subscribeOn(Schedulers.boundedElastic());
                            return insertIntoShard(s, table, part.columns(), part.rows().size(), encoded, token, retried);
                        }, shards.size()))
                .then();
    }

    /**
     * The rows (items, or converted rows) of a table written to its shards, split by the shard the
     * {@code Distributed} table would send each to: by the value of the routing column, converted as
     * it will be encoded.
     */
    private List<List<Object>> byShard(TableWriter table, int column, List<?> rows) {
        ShardRouter r = resolvedRouter;
        List<List<Object>> byShard = new ArrayList<>(shards.size());
        for (int s = 0; s < shards.size(); s++) {
            byShard.add(new ArrayList<>());
        }
        for (Object row : rows) {
            Object key = row instanceof ChangeItem item ? routingValue(table, column, item) : table.values(row)[column];
            byShard.get(r.shardOf(((Number) key).longValue())).add(row);
        }
        return byShard;
    }

    /** The routing column's value of an item (the key's, else the values'), converted; 0 when missing. */
    private static Object routingValue(TableWriter table, int column, ChangeItem item) {
        Object raw = null;
        for (Map.Entry<String, Object> e : item.key().entrySet()) {
            if (table.column(e.getKey()) == column) {
                raw = e.getValue();
            }
        }
        if (raw == null && item.kind().isSave()) {
            for (Map.Entry<String, Object> e : item.values().entrySet()) {
                if (table.column(e.getKey()) == column) {
                    raw = e.getValue();
                }
            }
        }
        if (raw == null) {
            return 0L;
        }
        try {
            return Values.convert(table.types()[column], raw);
        } catch (Values.ConversionException ex) {
            return table.values(item)[column]; // throws the conversion error that names the item
        }
    }

    /** One {@code INSERT} into a shard's local table ({@code <target>_local}), its token marked with the shard. */
    private Mono<Void> insertIntoShard(int shard, TableWriter table, int[] columns, int rows, Mono<List<byte[]>> encoded,
            String token, boolean retried) {
        return insertEncoded(shards.get(shard), table.target() + LOCAL_SUFFIX, table, columns, rows, encoded,
                token == null ? null : token + "-" + (shard + 1), retried);
    }

    /**
     * One {@code INSERT} of {@code rows} rows of {@code columns} into {@code targetTable} at
     * {@code to}, encoded as {@code encoded} gives them.
     */
    private Mono<Void> insertEncoded(Endpoints to, String targetTable, TableWriter table, int[] insertColumns, int rows,
            Mono<List<byte[]>> encoded, String token, boolean retried) {
        List<String> columns = new ArrayList<>(insertColumns.length);
        for (int c : insertColumns) {
            columns.add(Sql.identifier(table.columns().get(c).name()));
        }
        String target = Sql.table(options.database(), targetTable);
        ClickHouseFormat format = options.format() == InsertFormat.ROW_BINARY
                ? ClickHouseFormat.RowBinary : ClickHouseFormat.TabSeparated;
        String what = "insert of " + rows + " rows into " + targetTable;
        return encoded.flatMap(slices -> retryIf(retried, to.call(targetTable, what, client -> {
            InsertSettings settings = new InsertSettings();
            // into a Distributed table: answered once every shard has its rows, not once they are queued on
            // this node to be sent later (an acknowledgement before durability); other tables ignore it
            settings.serverSetting("insert_distributed_sync", "1");
            if (token != null) {
                settings.serverSetting("insert_deduplication_token", token);
            }
            try (InsertResponse response = client.insert(target, columns, out -> SliceEncoder.write(out, slices),
                    format, settings).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                log.debug("{}: {} done", options.name(), what);
                return Boolean.TRUE;
            }
        }), what)).then();
    }

    /**
     * A deduplication token that is the same for the same chunks, table and insert on every replay. It
     * names every chunk of a batch: a replay that batches the chunks differently sends other tokens
     * (and versions make the repeated rows harmless), never a token that would drop rows not written.
     */
    private static String token(List<Chunk> chunks, String table, int index) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Chunk chunk : chunks) {
                sha.update((chunk.origin() + '\0' + chunk.offset().value() + '\0').getBytes(StandardCharsets.UTF_8));
            }
            sha.update((table + '\0' + index).getBytes(StandardCharsets.UTF_8));
            return "changepipe-" + HexFormat.of().formatHex(sha.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private <T> Mono<T> retryIf(boolean retried, Mono<T> attempt, String what) {
        return retried ? retry(attempt, what) : attempt;
    }

    private <T> Mono<T> retry(Mono<T> attempt, String what) {
        return Retrying.withRetry(attempt, options.minBackoff(), options.maxBackoff(), options.jitter(),
                options.retryDeadline(), options.name() + ": " + what, this::retried);
    }

    @Override
    public void onRetry(java.util.function.Consumer<Throwable> listener) {
        retryListeners.add(listener);
    }

    private void retried(Throwable failure) {
        for (java.util.function.Consumer<Throwable> l : retryListeners) {
            l.accept(failure);
        }
    }

    // ---------------------------------------------------------------- schema and server

    private Mono<ServerVersion> serverVersion() {
        ServerVersion known = version;
        if (known != null) {
            return Mono.just(known);
        }
        return retry(endpoints.call(null, "read the server version",
                client -> ServerVersion.parse(queryText(client, "SELECT version() FORMAT TabSeparated"))),
                "read the server version").doOnNext(v -> {
            version = v;
            log.info("{}: ClickHouse {}; insert deduplication tokens {}", options.name(), v,
                    v.supportsInsertDeduplicationToken() ? "on" : "not supported");
        });
    }

    @Override
    public Mono<Void> checkTables(Collection<String> sourceTables) {
        List<Throwable> refused = new ArrayList<>();
        return Flux.fromIterable(new LinkedHashSet<>(sourceTables))
                .concatMap(sourceTable -> table(sourceTable, false)
                        .then()
                        .onErrorResume(ClickHouseWriteException.class, e -> {
                            refused.add(e);
                            return Mono.empty();
                        }))
                .then(Mono.defer(() -> {
                    if (refused.isEmpty()) {
                        return Mono.empty();
                    }
                    Throwable first = refused.get(0);
                    refused.subList(1, refused.size()).forEach(first::addSuppressed);
                    return Mono.error(first);
                }));
    }

    @Override
    public Mono<String> versionDefaultAbove(String sourceTable) {
        return table(sourceTable, false)
                .switchIfEmpty(Mono.error(() -> new IllegalStateException("table " + options.database() + "."
                        + options.targetTable(sourceTable) + " does not exist yet")))
                .filter(table -> table.mode() == WriteMode.REPLACING)
                .flatMap(table -> {
                    String version = options.versionColumn();
                    TableWriter.Column column = table.columns().stream().filter(c -> c.name().equals(version))
                            .findFirst().orElseThrow(() -> new IllegalStateException("table " + options.database()
                                    + "." + table.target() + " has no column " + version));
                    String sql = "SELECT max(" + Sql.identifier(version) + ") FROM "
                            + Sql.table(options.database(), table.target()) + " FORMAT TabSeparated";
                    String what = "read the highest version of " + options.database() + "." + table.target();
                    return retry(endpoints.call(table.target(), what, client -> {
                        String text = queryText(client, sql);
                        long max = text.isEmpty() ? 0L : Long.parseUnsignedLong(text);
                        return "ALTER TABLE " + Sql.table(options.database(), table.target()) + " MODIFY COLUMN "
                                + Sql.identifier(version) + " " + column.type().text() + " DEFAULT "
                                + Long.toUnsignedString(max + 1);
                    }), what);
                });
    }

    @Override
    public Mono<Void> truncate(String sourceTable, long beforeVersion) {
        return table(sourceTable, false)
                .flatMap(table -> {
                    if (table.mode() != WriteMode.REPLACING) {
                        return Mono.error(new IllegalStateException("table " + options.database() + "." + table.target()
                                + " is written in " + table.mode().name().toLowerCase(java.util.Locale.ROOT)
                                + " mode: a truncate is applied to replacing tables only"));
                    }
                    String sql = "ALTER TABLE " + Sql.table(options.database(), table.target()) + onCluster() + " DELETE WHERE "
                            + Sql.identifier(options.versionColumn()) + " < " + Long.toUnsignedString(beforeVersion);
                    String what = "truncate " + options.database() + "." + table.target();
                    return retry(endpoints.call(table.target(), what, client -> {
                        client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS).close();
                        log.info("{}: {} (rows of {} below a version: a truncate or a resync in the source)", options.name(),
                                sql, sourceTable);
                        return Boolean.TRUE;
                    }), what).then();
                });
    }

    @Override
    public Mono<Void> addColumns(String sourceTable, List<TableDigest.Column> columns) {
        return table(sourceTable, false).flatMap(table -> {
            java.util.Set<String> present = new java.util.HashSet<>();
            table.columns().forEach(c -> present.add(c.name()));
            List<String> adds = new ArrayList<>();
            for (TableDigest.Column c : columns) {
                if (!present.contains(c.name())) {
                    adds.add("ADD COLUMN " + Sql.identifier(c.name()) + " Nullable(" + clickHouseType(c) + ")");
                }
            }
            if (adds.isEmpty()) {
                return Mono.<Void>empty();
            }
            String sql = "ALTER TABLE " + Sql.table(options.database(), table.target()) + onCluster() + " "
                    + String.join(", ", adds);
            if (!options.table(sourceTable).create()) {
                return Mono.error(new IllegalStateException("table " + options.database() + "." + table.target()
                        + " lacks the source's new column(s), whose values are not written; the sink does not manage it"
                        + " (no create), so add them yourself: " + sql));
            }
            String what = "add columns to " + options.database() + "." + table.target();
            return retry(endpoints.call(table.target(), what, client -> {
                client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS).close();
                log.info("{}: {} (new columns of {} in the source)", options.name(), sql, sourceTable);
                return Boolean.TRUE;
            }), what).doOnSuccess(v -> tables.remove(sourceTable)).then(); // read the columns again next time
        });
    }

    /** {@code  ON CLUSTER c} when the sink has a cluster (its DDL runs on every node), else nothing. */
    private String onCluster() {
        return options.cluster() != null ? " ON CLUSTER " + Sql.identifier(options.cluster()) : "";
    }

    /** The ClickHouse type of a new column of this kind. */
    private static String clickHouseType(TableDigest.Column c) {
        switch (c.kind()) {
            case INTEGER:
                return "Int64";
            case DECIMAL:
                return "Decimal(38, " + Math.max(0, Math.min(38, c.scale())) + ")";
            case FLOAT:
                return c.scale() == 4 ? "Float32" : "Float64";
            case UUID:
                return "UUID";
            case DATE:
                return "Date";
            case DATETIME:
                return c.zone() == null || c.zone().equals("UTC") ? "DateTime" : "DateTime(" + Sql.string(c.zone()) + ")";
            default:
                return "String";
        }
    }

    private Mono<TableWriter> table(String sourceTable) {
        return table(sourceTable, true);
    }

    /**
     * The writer of a source table's target table, after the checks; with {@code create} false a missing
     * table that the sink is to create is not created and gives an empty result.
     */
    private Mono<TableWriter> table(String sourceTable, boolean create) {
        TableWriter known = tables.get(sourceTable);
        if (known != null) {
            return Mono.just(known);
        }
        String target = options.targetTable(sourceTable);
        TableOptions tableOptions = options.table(sourceTable);
        WriteMode mode = options.mode(sourceTable);
        if (!create && tableOptions.create()) {
            return schema(target, mode).flatMap(schema -> schema.columns().isEmpty()
                    ? Mono.<TableWriter>empty() : checked(sourceTable, target, mode, schema));
        }
        Mono<Void> creation = tableOptions.create()
                ? createDatabase(target).then(createTable(target, mode, tableOptions)) : Mono.empty();
        return creation.then(schema(target, mode)).flatMap(schema -> checked(sourceTable, target, mode, schema));
    }

    private Mono<TableWriter> checked(String sourceTable, String target, WriteMode mode, Schema schema) {
        if (schema.columns().isEmpty()) {
            return databaseExists(target).map(exists -> {
                if (!exists) {
                    throw new ClickHouseWriteException(options.name(), target, null, "database "
                            + options.database() + " does not exist (table " + target + ", source table "
                            + sourceTable + "); create it, or set create for the table so that the sink creates"
                            + " both", null, false, 81, 0);
                }
                // its items cannot be written until the table is made: they go to the dead letters
                throw ClickHouseWriteException.badRecord("unknown-table", options.name(), target, null, "table "
                        + options.database() + "." + target + " does not exist (source table " + sourceTable
                        + "); create it or set create for it", 60);
            });
        }
        if (schema.engineTable() != null) {
            ClickHouseWriteException refused = TableFit.check(options, mode, target, schema.engineTable(),
                    schema.through());
            if (refused != null) {
                throw refused;
            }
        }
        if (mode != WriteMode.APPEND && !schema.unwritableKeyColumns().isEmpty()) {
            throw new ClickHouseWriteException(options.name(), target,
                    String.join(", ", schema.unwritableKeyColumns().keySet()), "table " + options.database() + "."
                    + target + ": the partition or sorting key uses column(s) of a type the sink cannot write ("
                    + schema.unwritableKeyColumns() + "); the " + mode.name().toLowerCase() + " mode must write"
                    + " them into its tombstones and cancel rows", null, false, 0, 0);
        }
        TableWriter writer = new TableWriter(options, sourceTable, target, mode, schema.columns(),
                schema.keyExpressionColumns());
        String shardBy = options.table(sourceTable).shardBy();
        if (shards.isEmpty() || shardBy == null) {
            tables.put(sourceTable, writer);
            return Mono.just(writer);
        }
        int column = ShardRouter.column(shardBy, writer);
        if (mode != WriteMode.REPLACING || column < 0 || writer.types()[column].kind() != ColumnType.Kind.UINT) {
            throw new ClickHouseWriteException(options.name(), target, null, "table " + options.database() + "." + target
                    + ": the connection lists the shards, so the sink writes the shards' " + target + LOCAL_SUFFIX
                    + " tables itself, which needs the replacing mode (this table: " + mode.name().toLowerCase()
                    + ") and shardBy naming one unsigned integer column (this table: '" + shardBy + "'); remove the"
                    + " connection's shards to write through the Distributed table instead", null, false, 0, 0);
        }
        return router.map(r -> {
            resolvedRouter = r;
            routed.put(writer, column);
            tables.put(sourceTable, writer);
            return writer;
        });
    }

    /**
     * A table as read from {@code system.columns} and {@code system.tables}: its writable columns, the
     * columns its partition and sorting keys are computed from (through MATERIALIZED and ALIAS columns
     * to the columns those are computed from), and those of them the sink cannot write, with their types;
     * the table its engine is checked on ({@link TableFit}): the table itself, or the local table a
     * {@code Distributed} table writes into ({@code through} is then the Distributed table), {@code null}
     * when that local table is not on the server the sink talks to.
     */
    private record Schema(List<TableWriter.Column> columns, Set<String> keyExpressionColumns,
            Map<String, String> unwritableKeyColumns, TableFit.Table engineTable, TableFit.Table through) {
    }

    private Mono<Schema> schema(String target, WriteMode mode) {
        return retry(endpoints.call(target, "read the columns of " + target, client -> {
            TableFit.Table table = describe(client, options.database(), target);
            if (table == null) {
                return new Schema(List.of(), Set.of(), Map.of(), null, null);
            }
            TableFit.Table engineTable = table;
            TableFit.Table through = null;
            TableEngine engine = table.engine();
            if (engine.name().isEmpty()) { // not in system.tables (dropped meanwhile?): nothing to check
                engineTable = null;
            } else if (engine.name().equals("Distributed") && mode != WriteMode.APPEND) {
                String database = engine.args().size() >= 3 ? TableEngine.identifier(engine.args().get(1)) : null;
                String local = engine.args().size() >= 3 ? TableEngine.identifier(engine.args().get(2)) : null;
                engineTable = database == null || local == null ? null : describe(client, database, local);
                through = table;
                if (engineTable == null && warnedUnchecked.add(target)) {
                    log.warn("{}: table {}.{} is {}; its local table is not on the server the sink talks to (or not"
                            + " named plainly), so its engine is not checked: make sure it fits the {} mode"
                            + " (docs/clickhouse-sink.md)", options.name(), options.database(), target, engine.call(),
                            mode.name().toLowerCase());
                }
            }
            List<TableWriter.Column> columns = new ArrayList<>();
            Map<String, String> computed = new HashMap<>(); // MATERIALIZED and ALIAS columns: their expressions
            Map<String, String> unwritable = new LinkedHashMap<>();
            for (TableFit.Column c : table.columns()) {
                if (c.computed()) {
                    computed.put(c.name(), c.defaultExpression());
                    continue; // computed by the server, never inserted
                }
                ColumnType type = ColumnType.parse(c.type());
                if (!type.supported()) {
                    unwritable.put(c.name(), c.type());
                    continue;
                }
                columns.add(new TableWriter.Column(c.name(), type, !c.defaultKind().isEmpty()));
            }
            // a Distributed table has no keys of its own: its local table's keys place the rows
            TableFit.Table keyed = engineTable != null ? engineTable : table;
            Set<String> keyColumns = new java.util.LinkedHashSet<>();
            java.util.ArrayDeque<String> pending = new java.util.ArrayDeque<>(
                    List.of(keyed.partitionKey(), keyed.sortingKey()));
            while (!pending.isEmpty()) {
                for (String name : Sql.identifiersOf(pending.poll())) {
                    if (keyColumns.add(name) && computed.containsKey(name)) {
                        pending.add(computed.get(name)); // a computed column: the columns it is computed from
                    }
                }
            }
            Map<String, String> unwritableKeys = new LinkedHashMap<>(unwritable);
            unwritableKeys.keySet().retainAll(keyColumns);
            unwritable.forEach((name, type) -> log.warn("{}: column {}.{} of type {} is not supported; the server"
                    + " fills its default", options.name(), target, name, type));
            return new Schema(columns, keyColumns, unwritableKeys, engineTable, through);
        }), "read the columns of " + target);
    }

    /**
     * A table's columns ({@code system.columns}) and engine, CREATE statement and keys ({@code
     * system.tables}), or {@code null} when it has no columns (it does not exist).
     */
    private static TableFit.Table describe(Client client, String database, String table)
            throws Exception {
        String columnsSql = "SELECT name, type, default_kind, default_expression FROM system.columns WHERE database = "
                + Sql.string(database) + " AND table = " + Sql.string(table) + " FORMAT TabSeparated";
        String tableSql = "SELECT engine_full, create_table_query, partition_key, sorting_key, sampling_key"
                + " FROM system.tables WHERE database = " + Sql.string(database) + " AND name = " + Sql.string(table)
                + " FORMAT TabSeparated";
        List<TableFit.Column> columns = new ArrayList<>();
        for (String[] f : rows(client, columnsSql)) {
            columns.add(new TableFit.Column(Sql.unescapeTsv(f[0]), Sql.unescapeTsv(f[1]),
                    f.length > 2 ? f[2] : "", f.length > 3 ? Sql.unescapeTsv(f[3]) : ""));
        }
        if (columns.isEmpty()) {
            return null;
        }
        List<String[]> found = rows(client, tableSql);
        String[] t = found.isEmpty() ? new String[0] : found.get(0);
        String[] fields = new String[5];
        for (int i = 0; i < fields.length; i++) {
            fields[i] = i < t.length ? Sql.unescapeTsv(t[i]) : "";
        }
        String engineFull = fields[0];
        if (engineFull.isBlank()) { // should engine_full be empty: the text after ENGINE = of the statement
            int at = fields[1].indexOf(" ENGINE = ");
            engineFull = at < 0 ? "" : fields[1].substring(at + 10);
        }
        return new TableFit.Table(database, table, TableEngine.parse(engineFull), fields[1], fields[2], fields[3],
                fields[4], columns);
    }

    /** The rows of a TabSeparated query, as raw (escaped) fields. */
    private static List<String[]> rows(Client client, String sql) throws Exception {
        List<String[]> rows = new ArrayList<>();
        for (String line : body(client, sql).split("\n")) {
            if (!line.isEmpty()) {
                rows.add(line.split("\t", -1));
            }
        }
        return rows;
    }

    /** Whether the sink's database exists (one attempt per retry). */
    private Mono<Boolean> databaseExists(String target) {
        String sql = "SELECT count() FROM system.databases WHERE name = " + Sql.string(options.database())
                + " FORMAT TabSeparated";
        return retry(endpoints.call(target, "check that database " + options.database() + " exists",
                client -> Long.parseLong(queryText(client, sql)) > 0), "check that database " + options.database() + " exists");
    }

    /** The whole answer to a query, as text, trimmed (a single value in TabSeparated). */
    private static String queryText(Client client, String sql) throws Exception {
        return body(client, sql).trim();
    }

    /** The whole answer of a query, as text. */
    private static String body(Client client, String sql) throws Exception {
        try (QueryResponse response = client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            return new String(response.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * Creates the sink's database when it is missing, before a table is created in it: {@code CREATE
     * DATABASE IF NOT EXISTS}, {@code ON CLUSTER} when a cluster is set (then always run: each node
     * creates what it lacks). Without a cluster it is only run when the database is missing, so that a
     * user without the right to create databases can write into an existing one. A failure names the
     * database.
     */
    private Mono<Void> createDatabase(String target) {
        String sql = createDatabaseSql(options);
        Mono<Boolean> missing = options.cluster() != null ? Mono.just(true) : databaseExists(target).map(e -> !e);
        return missing.flatMap(create -> !create ? Mono.<Void>empty()
                : retry(endpoints.call(target, "create database " + options.database(), client -> {
                    client.query(sql).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS).close();
                    log.info("{}: ensured database {}", options.name(), options.database());
                    return Boolean.TRUE;
                }), "create database " + options.database()).then()
                .onErrorMap(ClickHouseWriteException.class, e -> new ClickHouseWriteException(options.name(), target,
                        null, "database " + options.database() + " does not exist and could not be created for table "
                        + target + ": " + withoutContext(e, target), e, e.isRetryable(), e.errorCode(), e.httpStatus())));
    }

    /** The message of an error of this sink and table without the "sink s, table t: " it starts with. */
    private String withoutContext(ClickHouseWriteException e, String target) {
        String prefix = "sink " + options.name() + ", table " + target + ": ";
        String m = e.getMessage();
        return m != null && m.startsWith(prefix) ? m.substring(prefix.length()) : m;
    }

    /** {@code CREATE DATABASE IF NOT EXISTS db [ON CLUSTER cluster]} (identifiers quoted). */
    static String createDatabaseSql(ClickHouseSinkOptions options) {
        return "CREATE DATABASE IF NOT EXISTS " + Sql.identifier(options.database())
                + (options.cluster() != null ? " ON CLUSTER " + Sql.identifier(options.cluster()) : "");
    }

    private Mono<Void> createTable(String target, WriteMode mode, TableOptions t) {
        List<String> statements = new ArrayList<>();
        if (options.cluster() != null && t.shardBy() != null) {
            statements.add(createTableSql(options, target + LOCAL_SUFFIX, mode, t));
            statements.add(createDistributedSql(options, target, t));
        } else {
            statements.add(createTableSql(options, target, mode, t));
        }
        return Flux.fromIterable(statements).concatMap(ddl -> {
            String engine = ddl.substring(ddl.indexOf("ENGINE = ") + 9);
            return retry(endpoints.call(target, "create table " + target, client -> {
                client.query(ddl).get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS).close();
                log.info("{}: ensured table {}.{} ({})", options.name(), options.database(), target, engine);
                return Boolean.TRUE;
            }), "create table " + target);
        }).then();
    }

    /** The local tables of a sharded table the sink creates: {@code <target>_local}. */
    static final String LOCAL_SUFFIX = "_local";

    /**
     * The {@code Distributed} table over the {@code Replicated} local tables of a sharded table the sink
     * creates ({@code CREATE TABLE ... ON CLUSTER c AS db.target_local ENGINE = Distributed(c, db,
     * target_local, shardBy)}).
     */
    static String createDistributedSql(ClickHouseSinkOptions options, String target, TableOptions t) {
        return "CREATE TABLE IF NOT EXISTS " + Sql.table(options.database(), target) + " ON CLUSTER "
                + Sql.identifier(options.cluster()) + " AS " + Sql.table(options.database(), target + LOCAL_SUFFIX)
                + " ENGINE = Distributed(" + Sql.identifier(options.cluster()) + ", " + Sql.identifier(options.database())
                + ", " + Sql.identifier(target + LOCAL_SUFFIX) + ", " + t.shardBy() + ")";
    }

    /** The CREATE TABLE IF NOT EXISTS statement of a table the sink creates (identifiers quoted). */
    static String createTableSql(ClickHouseSinkOptions options, String target, WriteMode mode, TableOptions t) {
        StringBuilder sql = new StringBuilder("CREATE TABLE IF NOT EXISTS ")
                .append(Sql.table(options.database(), target));
        if (options.cluster() != null) {
            sql.append(" ON CLUSTER ").append(Sql.identifier(options.cluster()));
        }
        sql.append(" (");
        List<String> declared = new ArrayList<>();
        for (String c : t.columns()) {
            String[] parts = c.trim().split("\\s+", 2);
            declared.add(parts[0]);
            if (declared.size() > 1) {
                sql.append(", ");
            }
            sql.append(Sql.identifier(parts[0])).append(' ').append(parts[1]);
        }
        String engine;
        String argument;
        switch (mode) {
            case COLLAPSING:
                addColumn(sql, declared, options.versionColumn(), "UInt64");
                addColumn(sql, declared, options.signColumn(), "Int8");
                engine = "CollapsingMergeTree";
                argument = Sql.identifier(options.signColumn());
                break;
            case APPEND:
                addColumn(sql, declared, options.versionColumn(), "UInt64");
                addColumn(sql, declared, options.originColumn(), "String");
                addColumn(sql, declared, options.offsetColumn(), "UInt64");
                addColumn(sql, declared, options.rowColumn(), "UInt32");
                engine = "MergeTree";
                argument = null;
                break;
            default:
                addColumn(sql, declared, options.versionColumn(), "UInt64");
                addColumn(sql, declared, options.deletedColumn(), "UInt8");
                engine = "ReplacingMergeTree";
                argument = Sql.identifier(options.versionColumn());
        }
        if (options.cluster() != null && t.shardBy() != null) {
            // the shard's replicas share a path in ZooKeeper: the macros of each node name its shard and itself
            String path = Sql.string("/clickhouse/tables/{shard}/" + options.database() + "." + target);
            engine = "Replicated" + engine + "(" + path + ", '{replica}'" + (argument == null ? "" : ", " + argument) + ")";
        } else {
            engine = engine + (argument == null ? "" : "(" + argument + ")");
        }
        sql.append(") ENGINE = ").append(engine);
        if (t.partitionBy() != null) {
            sql.append(" PARTITION BY ").append(t.partitionBy());
        }
        sql.append(" ORDER BY ").append(Sql.identifiers(t.orderBy()));
        return sql.toString();
    }

    private static void addColumn(StringBuilder sql, List<String> declared, String name, String type) {
        if (!declared.contains(name)) {
            sql.append(", ").append(Sql.identifier(name)).append(' ').append(type);
            declared.add(name);
        }
    }
}
