package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.PipelineException;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import io.r2dbc.pool.ConnectionPool;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What one fetch returns, item by item: the order of the pks asked for, the pk whose operations decide
 * the kind when two spell the same key, the Java types of keys and values, tombstones, the size
 * estimate and the version.
 */
@ExtendWith(PostgresServerExtension.class)
class RowFetcherIntegrationTest {

    private static final Duration T = Duration.ofSeconds(60);
    private final List<ConnectionPool> pools = new ArrayList<>();
    private final RowFetcher fetcher = new RowFetcher();

    @AfterEach
    void dispose() {
        pools.forEach(ConnectionPool::dispose);
    }

    private ConnectionPool pool(PostgresServer pg, String db) {
        ConnectionPool pool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(db), 2);
        pools.add(pool);
        return pool;
    }

    private static Map<String, Set<Operation.Type>> ops(Object... pkThenType) {
        Map<String, Set<Operation.Type>> ops = new LinkedHashMap<>();
        for (int i = 0; i < pkThenType.length; i += 2) {
            ops.computeIfAbsent((String) pkThenType[i], pk -> EnumSet.noneOf(Operation.Type.class))
                    .add((Operation.Type) pkThenType[i + 1]);
        }
        return ops;
    }

    private static void assertSizesAreEstimates(List<ChangeItem> items) {
        for (ChangeItem item : items) {
            assertThat(item.sizeBytes()).as("size of %s", item.key())
                    .isEqualTo(ChangeItem.estimateSize(item.table(), item.key(), item.values()));
        }
    }

    @Test
    void integerKeysComeInTheOrderAskedForWithTombstonesForRowsThatAreGone(PostgresServer pg) {
        String db = pg.createDatabase("fetch_int");
        pg.execute(db, "CREATE TABLE app_model (name text, id bigint PRIMARY KEY, amount numeric(10,2), "
                + "created timestamp, small smallint, tags text[], doc jsonb)");
        pg.execute(db, "INSERT INTO app_model VALUES ('one', 1, 1.50, '2024-01-02 03:04:05', 7, '{a,b}', "
                + "'{\"n\": 1}'), ('two', 2, NULL, NULL, NULL, NULL, NULL)");
        ImportKeyOptions key = ImportKeyOptions.builder("app.model").build();
        Map<String, Set<Operation.Type>> ops = ops("3", Operation.Type.UPDATE, " 1", Operation.Type.INSERT,
                "01", Operation.Type.UPDATE, "x", Operation.Type.UPDATE, "2", Operation.Type.UPDATE,
                "2", Operation.Type.INSERT);

        RowFetcher.Fetched fetched = fetcher.fetch(key, "default", pool(pg, db), ops).block(T);

        List<ChangeItem> items = fetched.items();
        // "01" is the key of " 1", which was asked for first and decides the kind; "x" cannot be a key.
        assertThat(items).extracting(ChangeItem::key)
                .containsExactly(Map.of("id", 3L), Map.of("id", 1L), Map.of("id", 2L));
        assertThat(items).extracting(ChangeItem::kind)
                .containsExactly(ChangeItem.Kind.DELETE, ChangeItem.Kind.INSERT, ChangeItem.Kind.UPDATE);
        assertThat(items).extracting(ChangeItem::table).containsOnly("app.model");
        assertThat(items).extracting(ChangeItem::version).containsOnly(fetched.version());
        assertThat(items.get(0).values()).isEmpty();
        ChangeItem one = items.get(1);
        assertThat(new ArrayList<>(one.values().keySet()))
                .containsExactly("name", "id", "amount", "created", "small", "tags", "doc");
        // a document stays a document (the PostgreSQL sink writes it as such, not as a JSON string)
        assertThat(new ArrayList<>(one.values().values())).containsExactly("one", 1L, new BigDecimal("1.50"),
                LocalDateTime.parse("2024-01-02T03:04:05"), 7L, List.of("a", "b"),
                new dev.changepipe.core.JsonValue("{\"n\": 1}"));
        assertThat(items.get(2).values()).containsEntry("name", "two").containsEntry("amount", null)
                .hasSize(7);
        assertThat(items.get(2).values().get("id")).isInstanceOf(Long.class);
        assertSizesAreEstimates(items);
    }

    @Test
    void aDenseBatchOfIntegerKeysIsReadAsOneRangeWithoutTheRowsNotAskedForAndASparseOneAsAnyQuery(PostgresServer pg) {
        String db = pg.createDatabase("fetch_dense");
        pg.execute(db, "CREATE TABLE app_model (id integer PRIMARY KEY, name text)");
        pg.execute(db, "INSERT INTO app_model SELECT g, 'n' || g FROM generate_series(1, 100) g");
        ImportKeyOptions key = ImportKeyOptions.builder("app.model").build();
        // dense: 10..21 without 15 and 17 (10 keys over a span of 11); sparse: the same and 1000
        Map<String, Set<Operation.Type>> dense = new LinkedHashMap<>();
        for (int id = 20; id >= 10; id--) {
            if (id != 15 && id != 17) {
                dense.put(Integer.toString(id), EnumSet.of(Operation.Type.UPDATE));
            }
        }
        dense.put("21", EnumSet.of(Operation.Type.DELETE));
        pg.execute(db, "DELETE FROM app_model WHERE id = 21");
        Map<String, Set<Operation.Type>> sparse = new LinkedHashMap<>(dense);
        sparse.put("1000", EnumSet.of(Operation.Type.UPDATE));
        // a span wider than a long: sparse, not a range over every key
        Map<String, Set<Operation.Type>> extremes = new LinkedHashMap<>(dense);
        extremes.put(Integer.toString(Integer.MIN_VALUE), EnumSet.of(Operation.Type.UPDATE));
        extremes.put(Integer.toString(Integer.MAX_VALUE), EnumSet.of(Operation.Type.UPDATE));

        for (Map<String, Set<Operation.Type>> ops : List.of(dense, sparse, extremes)) {
            List<ChangeItem> items = fetcher.fetch(key, "default", pool(pg, db), ops).block(T).items();

            // in the order asked for; 15 and 17, in the range, not asked for: not there
            List<Map<String, Object>> keys = new ArrayList<>();
            ops.keySet().forEach(pk -> keys.add(Map.of("id", Long.parseLong(pk))));
            assertThat(items).extracting(ChangeItem::key).containsExactlyElementsOf(keys);
            for (ChangeItem item : items) {
                long id = (Long) item.key().get("id");
                if (id >= 10 && id <= 20) {
                    assertThat(item.kind()).isEqualTo(ChangeItem.Kind.UPDATE);
                    assertThat(item.values()).containsEntry("id", id).containsEntry("name", "n" + id).hasSize(2);
                } else {
                    assertThat(item.kind()).as("row %s is gone", id).isEqualTo(ChangeItem.Kind.DELETE);
                }
            }
            assertSizesAreEstimates(items);
        }
    }

    @Test
    void pksBeyondTheKeyColumnsIntegerTypeGiveNoItemAndNeverFailTheBatch(PostgresServer pg) {
        String db = pg.createDatabase("fetch_range");
        pg.execute(db, "CREATE TABLE small_model (id smallint PRIMARY KEY, name text)");
        pg.execute(db, "CREATE TABLE big_model (id bigint PRIMARY KEY, name text)");
        pg.execute(db, "INSERT INTO small_model VALUES (1, 'one'), (32767, 'max')");
        pg.execute(db, "INSERT INTO big_model VALUES (1, 'one'), (" + Long.MAX_VALUE + ", 'max')");
        Map<String, Set<Operation.Type>> small = ops("1", Operation.Type.UPDATE, "32767", Operation.Type.UPDATE,
                "32768", Operation.Type.UPDATE, "-32769", Operation.Type.UPDATE, "99999999999", Operation.Type.UPDATE);
        // a span wider than a long (it overflows): read with = ANY, not as a range
        Map<String, Set<Operation.Type>> big = ops("1", Operation.Type.UPDATE, Long.toString(Long.MAX_VALUE),
                Operation.Type.UPDATE, Long.toString(Long.MIN_VALUE), Operation.Type.UPDATE);

        List<ChangeItem> smallItems = fetcher.fetch(ImportKeyOptions.builder("app.small").table("small_model").build(),
                "default", pool(pg, db), small).block(T).items();
        List<ChangeItem> bigItems = fetcher.fetch(ImportKeyOptions.builder("app.big").table("big_model").build(),
                "default", pool(pg, db), big).block(T).items();

        assertThat(smallItems).extracting(ChangeItem::key).containsExactly(Map.of("id", 1L), Map.of("id", 32767L));
        assertThat(smallItems).extracting(ChangeItem::kind).containsOnly(ChangeItem.Kind.UPDATE);
        assertThat(bigItems).extracting(ChangeItem::key).containsExactly(Map.of("id", 1L),
                Map.of("id", Long.MAX_VALUE), Map.of("id", Long.MIN_VALUE));
        assertThat(bigItems).extracting(ChangeItem::kind)
                .containsExactly(ChangeItem.Kind.UPDATE, ChangeItem.Kind.UPDATE, ChangeItem.Kind.DELETE);
    }

    @Test
    void pksThatTheKeyColumnsOtherTypesCannotTakeAreLeftOutAsInvalidAndTheOthersFetched(PostgresServer pg) {
        String db = pg.createDatabase("fetch_dates");
        pg.execute(db, "CREATE TABLE app_day (day date PRIMARY KEY, name text)");
        pg.execute(db, "INSERT INTO app_day VALUES ('2024-01-01', 'first'), ('2024-01-03', 'third')");
        ImportKeyOptions key = ImportKeyOptions.builder("app.day").keyColumn("day").build();
        Map<String, Set<Operation.Type>> ops = ops("2024-01-01", Operation.Type.UPDATE, "not-a-date",
                Operation.Type.UPDATE, "2024-01-02", Operation.Type.DELETE, "2024-02-30", Operation.Type.UPDATE,
                "2024-01-03", Operation.Type.INSERT);

        RowFetcher.Fetched fetched = fetcher.fetch(key, "default", pool(pg, db), ops).block(T);

        assertThat(fetched.items()).extracting(item -> item.key().get("day").toString())
                .containsExactly("2024-01-01", "2024-01-02", "2024-01-03");
        assertThat(fetched.items()).extracting(ChangeItem::kind)
                .containsExactly(ChangeItem.Kind.UPDATE, ChangeItem.Kind.DELETE, ChangeItem.Kind.INSERT);
        assertThat(fetched.invalidPks()).containsOnlyKeys("not-a-date", "2024-02-30");
        assertThat(fetched.invalidPks().get("2024-02-30")).isEqualTo(
                "pk '2024-02-30' is not a valid date for app_day.day: no row can have it");
    }

    @Test
    void uuidAndTextKeysAreMatchedByTheirCanonicalText(PostgresServer pg) {
        String db = pg.createDatabase("fetch_uuid");
        pg.execute(db, "CREATE TABLE app_ref (ref uuid PRIMARY KEY, name text)");
        pg.execute(db, "CREATE TABLE app_code (code text PRIMARY KEY, n integer)");
        pg.execute(db, "INSERT INTO app_ref VALUES ('6f1c3bde-1f7e-4bde-9d6a-4f7d0c4f0a11', 'r')");
        pg.execute(db, "INSERT INTO app_code VALUES ('a', 1), ('B', NULL)");
        ConnectionPool pool = pool(pg, db);

        RowFetcher.Fetched refs = fetcher.fetch(ImportKeyOptions.builder("app.ref").keyColumn("ref").build(), "default",
                pool, ops("6F1C3BDE-1F7E-4BDE-9D6A-4F7D0C4F0A11", Operation.Type.UPDATE,
                        "00000000-0000-0000-0000-00000000000A", Operation.Type.DELETE, "nope", Operation.Type.UPDATE))
                .block(T);
        RowFetcher.Fetched codes = fetcher.fetch(ImportKeyOptions.builder("app.code").keyColumn("code").build(),
                "default", pool, ops("B", Operation.Type.INSERT, "b", Operation.Type.UPDATE, "a", Operation.Type.UPDATE))
                .block(T);

        assertThat(refs.items()).extracting(ChangeItem::key).containsExactly(
                Map.of("ref", "6f1c3bde-1f7e-4bde-9d6a-4f7d0c4f0a11"),
                Map.of("ref", "00000000-0000-0000-0000-00000000000a"));
        assertThat(refs.items()).extracting(ChangeItem::kind)
                .containsExactly(ChangeItem.Kind.UPDATE, ChangeItem.Kind.DELETE);
        assertThat(refs.items().get(0).values())
                .containsExactly(Map.entry("ref", "6f1c3bde-1f7e-4bde-9d6a-4f7d0c4f0a11"), Map.entry("name", "r"));
        assertThat(codes.items()).extracting(ChangeItem::key)
                .containsExactly(Map.of("code", "B"), Map.of("code", "b"), Map.of("code", "a"));
        assertThat(codes.items()).extracting(ChangeItem::kind)
                .containsExactly(ChangeItem.Kind.INSERT, ChangeItem.Kind.DELETE, ChangeItem.Kind.UPDATE);
        assertThat(codes.items().get(0).values()).containsEntry("n", null).hasSize(2);
        assertThat(codes.items().get(2).values()).containsEntry("n", 1L);
        assertSizesAreEstimates(refs.items());
        assertSizesAreEstimates(codes.items());
    }

    @Test
    void pksThatNoRowCanHaveGiveNoItemsButAVersion(PostgresServer pg) {
        String db = pg.createDatabase("fetch_none");
        pg.execute(db, "CREATE TABLE app_model (id integer PRIMARY KEY)");

        RowFetcher.Fetched fetched = fetcher.fetch(ImportKeyOptions.builder("app.model").build(), "default",
                pool(pg, db), ops("x", Operation.Type.UPDATE, "", Operation.Type.DELETE)).block(T);

        assertThat(fetched.items()).isEmpty();
        assertThat(fetched.version()).isPositive();
    }

    @Test
    void aMissingKeyColumnIsAnErrorNamingIt(PostgresServer pg) {
        String db = pg.createDatabase("fetch_missing");
        pg.execute(db, "CREATE TABLE app_model (id integer PRIMARY KEY)");

        assertThatThrownBy(() -> fetcher.fetch(ImportKeyOptions.builder("app.model").keyColumn("pk").build(), "default",
                pool(pg, db), ops("1", Operation.Type.UPDATE)).block(T))
                .isInstanceOf(PipelineException.class)
                .hasMessageContaining("app_model").hasMessageContaining("pk");
    }
}
