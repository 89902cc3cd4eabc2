package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.delete;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/**
 * The collapsing mode with what it knows without reading back (the keys it wrote last, the key bound)
 * against a real ClickHouse: whatever the history, cache size, restarts, lost responses and dropped
 * tables, every key ends with exactly one visible row (its last save) or none (deleted): checked per
 * key and version with {@code sum(sign)}, not only after {@code FINAL}.
 */
@ExtendWith(ClickHouseServerExtension.class)
class CollapsingModeIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "shop.product";

    private final ClickHouseServer clickhouse;
    private String database;
    private final List<ClickHouseSink> sinks = new ArrayList<>();
    private FaultyProxy proxy;

    CollapsingModeIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void createDatabase() {
        database = clickhouse.createDatabase("collapsing");
    }

    @AfterEach
    void close() throws Exception {
        for (ClickHouseSink sink : sinks) {
            sink.close().block(TIMEOUT);
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    private ClickHouseSink sink(int cacheKeys, String endpoint) {
        ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(endpoint)
                .database(database)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(20), 0.5)
                .keysPerLookup(7)
                .collapsingCache(cacheKeys, cacheKeys == 0 ? 0 : 1L << 20)
                .table(TABLE, TableOptions.builder().mode(WriteMode.COLLAPSING)
                        .create(List.of("id UInt64", "name String"), List.of("id"))
                        .build())
                .build());
        sinks.add(sink);
        return sink;
    }

    private ClickHouseSink sink(int cacheKeys) {
        return sink(cacheKeys, clickhouse.httpUrl());
    }

    private static void write(ClickHouseSink sink, List<Chunk> chunks, boolean batched) {
        (batched ? sink.writeBatch(chunks) : Flux.fromIterable(chunks).concatMap(sink::write).then())
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
    }

    private long insertQueries() {
        String n = clickhouse.execute("SELECT sum(value) FROM system.events WHERE event = 'InsertQuery' FORMAT TabSeparated")
                .trim();
        return n.isEmpty() ? 0 : Long.parseLong(n);
    }

    private long insertedRows() {
        String n = clickhouse.execute("SELECT sum(value) FROM system.events WHERE event = 'InsertedRows' FORMAT TabSeparated")
                .trim();
        return n.isEmpty() ? 0 : Long.parseLong(n);
    }

    /** Per key and version whose rows do not cancel out: {@code id version name sum(sign)}. */
    private String visible() {
        return clickhouse.execute("SELECT id, version, argMax(name, sign), sum(sign) FROM " + database
                + ".shop_product GROUP BY id, version HAVING sum(sign) != 0 ORDER BY id, version FORMAT TabSeparated");
    }

    /** What {@link #visible()} must be after these chunks: each live key once, at its last save. */
    private static String expected(List<Chunk> chunks) {
        Map<Long, ChangeItem> last = new TreeMap<>();
        for (Chunk chunk : chunks) {
            for (ChangeItem item : chunk.items()) {
                long id = (Long) item.key().get("id");
                ChangeItem previous = last.get(id);
                if (previous == null || item.version() > previous.version()) {
                    last.put(id, item);
                }
            }
        }
        StringBuilder b = new StringBuilder();
        last.forEach((id, item) -> {
            if (item.kind().isSave()) {
                b.append(id).append('\t').append(item.version()).append('\t').append(item.values().get("name"))
                        .append("\t1\n");
            }
        });
        return b.toString();
    }

    /**
     * A random history over 40 keys, 30 chunks of up to 12 changes: inserts of keys never seen (with
     * kind INSERT), re-saves, deletes, re-inserts after deletes, several changes of a key in one chunk.
     */
    private static List<Chunk> history(long seed) {
        Random random = new Random(seed);
        List<Chunk> chunks = new ArrayList<>();
        boolean[] seen = new boolean[40];
        long version = 1000;
        for (int c = 0; c < 30; c++) {
            List<ChangeItem> items = new ArrayList<>();
            int n = 1 + random.nextInt(12);
            for (int i = 0; i < n; i++) {
                int id = random.nextInt(40);
                version++;
                if (seen[id] && random.nextInt(4) == 0) {
                    items.add(delete(TABLE, id, version));
                } else if (!seen[id]) {
                    seen[id] = true;
                    items.add(ChangeItem.insert(TABLE, Map.of("id", (long) id), Items.map("name", "n" + version), version));
                } else {
                    items.add(save(TABLE, id, version, "name", "n" + version));
                }
            }
            chunks.add(chunk(c + 1, items.toArray(ChangeItem[]::new)));
        }
        return chunks;
    }

    @Test
    void historiesWithResavesDeletesAndReinsertsEndRightWithTheCacheOnOffOrTiny() {
        for (int cacheKeys : new int[] {100_000, 0, 3}) {
            for (boolean batched : new boolean[] {false, true}) {
                database = clickhouse.createDatabase("collapsing");
                List<Chunk> history = history(cacheKeys * 31L + (batched ? 1 : 0));
                ClickHouseSink sink = sink(cacheKeys);
                if (batched) {
                    for (int i = 0; i < history.size(); i += 4) {
                        write(sink, history.subList(i, Math.min(history.size(), i + 4)), true);
                    }
                } else {
                    write(sink, history, false);
                }
                assertThat(visible()).as("cache %d, batched %s", cacheKeys, batched).isEqualTo(expected(history));
            }
        }
    }

    @Test
    void replaysInTheSameSinkAndAfterARestartWriteNothingTwice() {
        List<Chunk> history = history(7);
        ClickHouseSink first = sink(100_000);
        write(first, history.subList(0, 20), false);
        write(first, history.subList(10, 20), false); // a replay in the same sink (cached keys)
        assertThat(visible()).isEqualTo(expected(history.subList(0, 20)));
        first.close().block(TIMEOUT);

        ClickHouseSink second = sink(100_000); // a restart: cold, from an older checkpoint, batched differently
        long before = insertQueries();
        write(second, history.subList(5, 20), true);
        // every change is known applied: nothing inserted (row counts would move with background merges)
        assertThat(insertQueries()).isEqualTo(before);
        write(second, history.subList(5, 30), false);
        assertThat(visible()).isEqualTo(expected(history));
    }

    @Test
    void anInsertWhoseResponseIsLostIsRetriedByReadingBackNotByWritingTwice() throws Exception {
        proxy = new FaultyProxy(clickhouse.httpPort());
        ClickHouseSink sink = sink(100_000, proxy.url());
        long rowsBefore = insertedRows();
        // new keys (above the key bound, not read back): the retry must read them back
        List<Chunk> history = new ArrayList<>(List.of(chunk(1,
                ChangeItem.insert(TABLE, Map.of("id", 1L), Items.map("name", "a"), 1),
                ChangeItem.insert(TABLE, Map.of("id", 2L), Items.map("name", "b"), 2))));
        proxy.loseNextInsertResponse();
        write(sink, history, false);
        assertThat(proxy.insertResponsesLost()).isEqualTo(1);
        assertThat(visible()).isEqualTo(expected(history));
        // re-saves of cached keys: the cache is not trusted after the failure
        history.add(chunk(2, save(TABLE, 1, 3, "name", "a2"), save(TABLE, 2, 4, "name", "b2"),
                save(TABLE, 3, 5, "name", "c")));
        proxy.loseNextInsertResponse();
        write(sink, history.subList(1, 2), false);
        assertThat(proxy.insertResponsesLost()).isEqualTo(2);
        assertThat(visible()).isEqualTo(expected(history));
        history.add(chunk(3, save(TABLE, 1, 6, "name", "a3"), delete(TABLE, 3, 7)));
        write(sink, history.subList(2, 3), false);
        assertThat(visible()).isEqualTo(expected(history));
        assertThat(insertedRows() - rowsBefore).isEqualTo(10); // 2 + (2 cancels + 3) + (2 cancels + 1): none twice
    }

    @Test
    void aTableDroppedUnderTheSinkFailsTheWriteAndTheRetryDoesNotTrustTheCache() {
        ClickHouseSink sink = sink(100_000);
        write(sink, List.of(chunk(1, save(TABLE, 1, 1, "name", "a"), save(TABLE, 2, 2, "name", "b"),
                save(TABLE, 3, 3, "name", "c"))), false);
        clickhouse.execute("DROP TABLE " + database + ".shop_product");
        Chunk next = chunk(2, save(TABLE, 1, 4, "name", "a2"), save(TABLE, 2, 5, "name", "b2"));
        sink.write(next).as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(((ClickHouseWriteException) e).errorCode()).isEqualTo(60))
                .verify(TIMEOUT);
        write(sink, List.of(next), false); // the table is made again, empty: no cancel row for what is gone
        write(sink, List.of(chunk(3, save(TABLE, 3, 6, "name", "c2"))), false); // nor for a key not in the failed write
        assertThat(visible()).isEqualTo("1\t4\ta2\t1\n2\t5\tb2\t1\n3\t6\tc2\t1\n");
    }

    @Test
    void rowsLeftVisibleBesidesTheCurrentOneAreCancelledByTheNextWriteOfTheKey() {
        ClickHouseSink sink = sink(100_000);
        write(sink, List.of(chunk(1, save(TABLE, 1, 1, "name", "a"))), false);
        // what an insert retried alone after a lost response left behind (an older release): twice the rows
        clickhouse.execute("INSERT INTO " + database + ".shop_product (id, name, version, sign) VALUES"
                + " (1, 'a', 1, -1), (1, 'b', 2, 1), (1, 'b', 2, 1)");
        write(sink(100_000), List.of(chunk(2, save(TABLE, 1, 2, "name", "b"))), false); // a replay, cold
        assertThat(visible()).isEqualTo("1\t2\tb\t1\n");
        clickhouse.execute("INSERT INTO " + database + ".shop_product (id, name, version, sign) VALUES (1, 'a', 1, 1)");
        write(sink(100_000), List.of(chunk(3, save(TABLE, 1, 3, "name", "c"))), false);
        assertThat(visible()).isEqualTo("1\t3\tc\t1\n");
    }
}
