package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.TableOptions;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;

/**
 * The source against a real PostgreSQL ({@code wal_level=logical}) and ClickHouse: a snapshot, then
 * inserts, updates, key-changing updates, deletes, a transaction of 100,000 changes, TOASTed values left
 * unchanged by an update, concurrent writers, a table copied again (resync) after rows were deleted, changed and
 * added in ClickHouse behind the pipeline's back, columns added mid-stream and while stopped (and to the target), a column dropped and one
 * retyped mid-stream, heartbeats that move the slot past other tables' WAL, a restart that resumes from the
 * slot, a truncate; after each
 * catch-up, ClickHouse ({@code FINAL}, not deleted) equals PostgreSQL.
 */
@ExtendWith({PostgresServerExtension.class, ClickHouseServerExtension.class})
class PostgresCdcIntegrationTest {

    private static final Duration T = Duration.ofSeconds(20);

    @Test
    void clickHouseEqualsPostgresAfterSnapshotStreamAndRestart(PostgresServer pg, ClickHouseServer ch, @TempDir Path dir)
            throws InterruptedException {
        String pgDb = pg.createDatabase("cdc");
        pg.execute(pgDb, "CREATE TABLE orders (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), "
                + "note text, updated timestamptz NOT NULL DEFAULT now())");
        pg.execute(pgDb, "INSERT INTO orders (id, name, amount, note) SELECT g, 'n' || g, g * 1.5, NULL "
                + "FROM generate_series(1, 12345) g");
        // a second table: the snapshot copies both at once, on two connections, in the slot's snapshot
        pg.execute(pgDb, "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL)");
        pg.execute(pgDb, "INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 7000) g");
        String chDb = ch.createDatabase("cdc");
        CheckpointStore checkpoints = FileCheckpointStore.open(dir);

        Run first = pipeline(pg, pgDb, checkpoints, ch, chDb);
        Disposable run = first.pipeline().run().subscribe();
        try {
            awaitEqual(pg, pgDb, ch, chDb);
            // WAL of a table the source does not read, while its own tables are idle: the heartbeats move the
            // slot past it, so the server can free it
            pg.execute(pgDb, "CREATE TABLE noise AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g");
            String walAfterNoise = pg.execute(pgDb, "SELECT pg_current_wal_lsn()").trim();
            String slotName = PostgresCdcOptions.defaultName(pgDb);
            await().atMost(T).untilAsserted(() -> assertThat(pg.execute(pgDb, "SELECT confirmed_flush_lsn >= '"
                    + walAfterNoise + "' FROM pg_replication_slots WHERE slot_name = '" + slotName + "'").trim())
                    .as("the slot confirmed past the other table's WAL").isEqualTo("t"));
            pg.execute(pgDb, "UPDATE customers SET email = 'changed' WHERE id = 5");
            await().atMost(T).untilAsserted(() -> assertThat(ch.execute("SELECT count(), countIf(email = 'changed') FROM "
                    + chDb + ".customers FINAL WHERE is_deleted = 0 FORMAT TabSeparated")).isEqualTo("7000\t1\n"));

            // a TOASTed value: long and incompressible, so it is stored out of line
            pg.execute(pgDb, "UPDATE orders SET note = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) "
                    + "WHERE id = 7");
            pg.execute(pgDb, "INSERT INTO orders (id, name) VALUES (20001, 'new'); "
                    + "UPDATE orders SET name = 'renamed' WHERE id = 2; "
                    + "DELETE FROM orders WHERE id BETWEEN 100 AND 199; "
                    + "UPDATE orders SET id = 30003 WHERE id = 3");
            // an update that leaves the TOASTed note out of the WAL
            pg.execute(pgDb, "UPDATE orders SET name = 'toast kept' WHERE id = 7");
            // one transaction: several changes of one key, and 100,000 changes
            pg.execute(pgDb, "BEGIN; INSERT INTO orders (id, name) VALUES (40000, 'a'); "
                    + "UPDATE orders SET name = 'b' WHERE id = 40000; UPDATE orders SET name = 'c' WHERE id = 40000; "
                    + "INSERT INTO orders (id, name, amount) SELECT 100000 + g, 'bulk', g FROM generate_series(1, 100000) g; "
                    + "DELETE FROM orders WHERE id = 4; COMMIT");
            awaitEqual(pg, pgDb, ch, chDb);
            assertThat(ch.execute("SELECT length(note) FROM " + chDb + ".orders FINAL WHERE id = 7").trim())
                    .isEqualTo("12800");

            // concurrent writers: four sessions changing overlapping keys, their transactions interleaved
            List<Thread> writers = new java.util.ArrayList<>();
            for (int w = 0; w < 4; w++) {
                int writer = w;
                writers.add(new Thread(() -> {
                    for (int t = 0; t < 40; t++) {
                        long key = 500 + (t * 7 + writer) % 60;
                        pg.execute(pgDb, "BEGIN; UPDATE orders SET name = 'w" + writer + "t" + t + "', amount = "
                                + t + " WHERE id = " + key + "; INSERT INTO orders (id, name) VALUES ("
                                + (70000 + writer * 1000 + t) + ", 'w" + writer + "') ON CONFLICT (id) DO NOTHING; "
                                + "DELETE FROM orders WHERE id = " + (600 + writer * 40 + t) + "; COMMIT");
                    }
                }));
            }
            writers.forEach(Thread::start);
            for (Thread t : writers) {
                t.join();
            }
            awaitEqual(pg, pgDb, ch, chDb);

            // a resync: rows deleted, changed and added in ClickHouse behind the pipeline's back are as
            // PostgreSQL has them again, while the stream goes on
            ch.execute("ALTER TABLE " + chDb + ".orders DELETE WHERE id BETWEEN 10 AND 19");
            ch.execute("INSERT INTO " + chDb + ".orders (id, name, updated, version, is_deleted) VALUES "
                    + "(20, 'changed behind its back', now(), 1, 0), (999999, 'added behind its back', now(), 1, 0)");
            await().atMost(T).until(() -> ch.execute("SELECT count() FROM " + chDb + ".orders WHERE id BETWEEN 10 AND 19")
                    .trim().equals("0"));
            first.source().resync("orders").block(T);
            pg.execute(pgDb, "UPDATE orders SET name = 'during the resync' WHERE id = 21");
            awaitEqual(pg, pgDb, ch, chDb);
            await().atMost(T).until(() -> first.source().status().parts().get("public.orders").equals("streaming"));

            // columns added mid-stream: the sink adds them to the table it manages, and writes their values
            pg.execute(pgDb, "ALTER TABLE orders ADD COLUMN extra text, ADD COLUMN score numeric(10,3); "
                    + "INSERT INTO orders (id, name, extra, score) VALUES (50000, 'with extra', 'x', 1.5); "
                    + "UPDATE orders SET extra = 'y', name = 'extra set' WHERE id = 5");
            awaitEqual(pg, pgDb, ch, chDb);
            await().atMost(T).untilAsserted(() -> assertThat(ch.execute("SELECT id, extra, score FROM " + chDb
                    + ".orders FINAL WHERE extra IS NOT NULL ORDER BY id FORMAT TabSeparated"))
                    .isEqualTo("5\ty\t\\N\n50000\tx\t1.500\n"));

            // a dropped and a retyped column are followed: the stream goes on, the new type's values are written
            pg.execute(pgDb, "ALTER TABLE orders DROP COLUMN extra; ALTER TABLE orders ALTER COLUMN score TYPE text; "
                    + "UPDATE orders SET score = '2.250', name = 'retyped' WHERE id = 50000");
            awaitEqual(pg, pgDb, ch, chDb);
            assertThat(ch.execute("SELECT score FROM " + chDb + ".orders FINAL WHERE id = 50000").trim()).isEqualTo("2.250");
        } finally {
            first.pipeline().stop();
            await().atMost(T).until(run::isDisposed);
        }

        // changes while nothing reads; a new source on the same slot and checkpoints resumes, without a new snapshot
        // first, a column added while nothing reads: the stream's first relation message of the next run
        // has it already, so that run adds it to the target before any row
        pg.execute(pgDb, "ALTER TABLE orders ADD COLUMN late text; UPDATE orders SET late = 'added while stopped' "
                + "WHERE id = 1000");
        pg.execute(pgDb, "UPDATE orders SET name = 'while stopped' WHERE id BETWEEN 1000 AND 1999; "
                + "DELETE FROM orders WHERE id BETWEEN 2000 AND 2099");
        long rowsBefore = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".orders").trim());
        Run again = pipeline(pg, pgDb, checkpoints, ch, chDb);
        PostgresCdcSource source = again.source();
        Pipeline second = again.pipeline();
        Disposable rerun = second.run().subscribe();
        try {
            awaitEqual(pg, pgDb, ch, chDb);
            assertThat(ch.execute("SELECT late FROM " + chDb + ".orders FINAL WHERE id = 1000").trim())
                    .isEqualTo("added while stopped");
            assertThat(source.status().parts()).as("each table's status line").containsExactly(
                    java.util.Map.entry("public.orders", "streaming"), java.util.Map.entry("public.customers", "streaming"));
            long rowsAfter = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".orders").trim());
            assertThat(rowsAfter - rowsBefore).as("rows written after the restart: the changes, not a second snapshot")
                    .isLessThan(5_000);

            // a truncate: the rows written before it go, those of later changes stay
            pg.execute(pgDb, "TRUNCATE orders");
            pg.execute(pgDb, "INSERT INTO orders (id, name) VALUES (60000, 'after truncate')");
            awaitEqual(pg, pgDb, ch, chDb);
            assertThat(source.status().deadLetters()).isZero();
        } finally {
            second.stop();
            await().atMost(T).until(rerun::isDisposed);
        }
        String slot = PostgresCdcOptions.defaultName(pgDb);
        assertThat(pg.execute(pgDb, "SELECT active FROM pg_replication_slots WHERE slot_name = '" + slot + "'").trim())
                .as("the slot is released when the pipeline stops").isEqualTo("f");
        pg.execute(pgDb, "SELECT pg_drop_replication_slot('" + slot + "')");
    }

    private record Run(PostgresCdcSource source, Pipeline pipeline) {
    }

    /** The source (told of the sink, for truncates) and the pipeline into ClickHouse. */
    private static Run pipeline(PostgresServer pg, String pgDb, CheckpointStore checkpoints, ClickHouseServer ch,
            String chDb) {
        // the sink creates (manages) the table, so it adds the columns the source table gains
        ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(ch.httpUrl()).database(chDb)
                .table("orders", TableOptions.builder().create(List.of("id Int64", "name String",
                        "amount Nullable(String)", "note Nullable(String)", "updated DateTime"), List.of("id")).build())
                .table("customers", TableOptions.builder().create(List.of("id Int64", "email String"), List.of("id")).build())
                .build());
        PostgresCdcOptions d = PostgresCdcOptions.of(pgDb, pg.r2dbcUrl(pgDb), List.of("orders", "customers"), checkpoints);
        PostgresCdcSource source = PostgresCdcSource.create(new PostgresCdcOptions(d.name(), d.url(), d.tables(),
                d.slot(), d.publication(), d.createPublication(), d.snapshot(), d.snapshotConnections(), d.snapshotRangeRows(), d.chunkRows(), d.chunkBytes(),
                d.linger(), d.statusInterval(), Duration.ofMillis(200), checkpoints, null, null, () -> List.of(sink)));
        return new Run(source, Pipeline.builder("cdc").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().build()))
                .meterRegistry(new SimpleMeterRegistry())
                .build());
    }

    private static void awaitEqual(PostgresServer pg, String pgDb, ClickHouseServer ch, String chDb) {
        // (the sink creates the table with its first write: until then ClickHouse answers 404)
        await().atMost(T).pollInterval(Duration.ofMillis(200)).ignoreExceptionsInstanceOf(IllegalStateException.class)
                .untilAsserted(() -> {
            List<String> expected = pg.execute(pgDb, "SELECT id, name, coalesce(amount::text, ''), coalesce(note, '') FROM orders ORDER BY id").lines()
                    .map(l -> l.replace('|', '\t')).toList();
            List<String> actual = ch.execute("SELECT id, name, ifNull(amount, ''), ifNull(note, '') FROM " + chDb + ".orders FINAL "
                    + "WHERE is_deleted = 0 ORDER BY id FORMAT TabSeparated").lines().toList();
            assertThat(actual).hasSameSizeAs(expected);
            assertThat(actual).containsExactlyElementsOf(expected);
        });
    }
}
