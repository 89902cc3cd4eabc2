package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.PipelineException;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The snapshot's key ranges and the stream's faults against a real PostgreSQL: a large table is copied in
 * key ranges, several at once, and a copy cut short goes on from each range's last key; a backlog read by
 * a consumer slower than the server (and asking from its own thread, as the pusher does) arrives whole; a
 * walsender ended by the server and a slot held by another connection are transient faults (the service
 * restarts the pipeline), named, and the next run reads on from the slot.
 */
@ExtendWith(PostgresServerExtension.class)
class PostgresCdcFaultsIntegrationTest {

    private static final int ROWS = 10_000;

    /** A source on table t, without snapshot, whose slot and publication exist before {@code rounds} transactions of {@value #ROWS} rows. */
    private static PostgresCdcSource backlog(PostgresServer pg, String db, Path dir, int chunkRows, int rounds) {
        pg.execute(db, "CREATE TABLE t (id bigint PRIMARY KEY, v text)");
        PostgresCdcOptions d = PostgresCdcOptions.of(db, pg.r2dbcUrl(db), List.of("t"), FileCheckpointStore.open(dir));
        pg.execute(db, "CREATE PUBLICATION " + d.publication() + " FOR TABLE t");
        pg.execute(db, "SELECT pg_create_logical_replication_slot('" + d.slot() + "', 'pgoutput')");
        for (int r = 0; r < rounds; r++) {
            pg.execute(db, "INSERT INTO t SELECT g, 'r" + r + "' FROM generate_series(1, " + ROWS + ") g "
                    + "ON CONFLICT (id) DO UPDATE SET v = excluded.v");
        }
        return PostgresCdcSource.create(new PostgresCdcOptions(d.name(), d.url(), d.tables(), d.slot(),
                d.publication(), d.createPublication(), false, 1, 1_000_000, chunkRows, d.chunkBytes(), d.linger(),
                d.statusInterval(), d.heartbeat(), d.checkpoints(), null, null, null));
    }

    @Test
    void aBacklogReadByASlowConsumerOnAnotherThreadArrivesWhole(PostgresServer pg, @TempDir Path dir) {
        String db = pg.createDatabase("cdcslow");
        int rounds = 10;
        // one-row chunks, asked for one at a time from another thread: many requests while the server sends
        PostgresCdcSource source = backlog(pg, db, dir, 1, rounds);
        Scheduler consumer = Schedulers.newSingle("slow-consumer");
        try {
            long rows = source.read()
                    .publishOn(consumer, 1)
                    .map(c -> (long) c.itemCount())
                    .scan(0L, Long::sum)
                    .takeUntil(n -> n >= (long) rounds * ROWS)
                    .blockLast(Duration.ofMinutes(2));
            assertThat(rows).isEqualTo((long) rounds * ROWS);
        } finally {
            consumer.dispose();
        }
    }

    @Test
    void aWalsenderEndedByTheServerIsATransientFaultAndTheNextRunReadsOn(PostgresServer pg, @TempDir Path dir) {
        String db = pg.createDatabase("cdckill");
        PostgresCdcSource source = backlog(pg, db, dir, 100, 3);
        String slot = source.options.slot();
        AtomicLong rows = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        java.util.concurrent.atomic.AtomicReference<Throwable> error = new java.util.concurrent.atomic.AtomicReference<>();
        // read one chunk at a time and hold it: the walsender is ended while the stream is backpressured
        Disposable run = source.read().limitRate(1).subscribe(c -> rows.addAndGet(c.itemCount()), e -> {
            error.set(e);
            failed.incrementAndGet();
        });
        try {
            await().atMost(Duration.ofSeconds(20)).until(() -> rows.get() > 0);
            pg.execute(db, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '"
                    + slot + "'");
            await().atMost(Duration.ofSeconds(20)).until(() -> failed.get() == 1);
        } finally {
            run.dispose();
        }
        assertThat(error.get()).isInstanceOf(PipelineException.class)
                .hasMessageStartingWith(source.name() + ": PostgreSQL")
                .satisfies(e -> assertThat(((PipelineException) e).isRetryable()).as("retryable").isTrue());
        await().atMost(Duration.ofSeconds(20)).until(() -> pg.execute(db, "SELECT active FROM pg_replication_slots "
                + "WHERE slot_name = '" + slot + "'").trim().equals("f"));

        // nothing was acknowledged: the next run reads the whole backlog again
        long again = source.read().map(c -> (long) c.itemCount()).scan(0L, Long::sum)
                .takeUntil(n -> n >= 3L * ROWS).blockLast(Duration.ofMinutes(1));
        assertThat(again).isEqualTo(3L * ROWS);
    }

    @Test
    void aSlotHeldByAnotherConnectionIsATransientFaultThatNamesIt(PostgresServer pg, @TempDir Path dir) {
        String db = pg.createDatabase("cdcheld");
        PostgresCdcSource first = backlog(pg, db, dir, 100, 1);
        PostgresCdcSource second = PostgresCdcSource.create(first.options);
        Disposable holding = first.read().limitRate(1).subscribe(c -> { }, e -> { });
        try {
            await().atMost(Duration.ofSeconds(20)).until(() -> pg.execute(db, "SELECT active FROM "
                    + "pg_replication_slots WHERE slot_name = '" + first.options.slot() + "'").trim().equals("t"));
            assertThatThrownBy(() -> second.read().blockLast(Duration.ofSeconds(20)))
                    .isInstanceOf(PipelineException.class)
                    .hasMessageContaining(first.options.slot() + "\" is active for PID")
                    .satisfies(e -> assertThat(((PipelineException) e).isRetryable()).as("retryable").isTrue());
        } finally {
            holding.dispose();
        }
    }

    @Test
    void aLargeTableIsCopiedInKeyRangesAtOnceAndACopyCutShortGoesOnFromEachRange(PostgresServer pg, @TempDir Path dir) {
        String db = pg.createDatabase("cdcranges");
        pg.execute(db, "CREATE TABLE big (id bigint PRIMARY KEY, v text)");
        pg.execute(db, "INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 30000) g");
        dev.changepipe.core.CheckpointStore checkpoints = FileCheckpointStore.open(dir);
        PostgresCdcOptions d = PostgresCdcOptions.of(db, pg.r2dbcUrl(db), List.of("big"), checkpoints);
        // 5,000 rows per range: 6 ranges, 3 copied at once, 500 rows per chunk
        java.util.function.Supplier<PostgresCdcSource> source = () -> PostgresCdcSource.create(new PostgresCdcOptions(
                d.name(), d.url(), d.tables(), d.slot(), d.publication(), true, true, 3, 5_000, 500, d.chunkBytes(),
                d.linger(), d.statusInterval(), d.heartbeat(), checkpoints, null, null, null));
        java.util.Set<Object> keys = java.util.concurrent.ConcurrentHashMap.newKeySet();
        java.util.Set<String> origins = java.util.concurrent.ConcurrentHashMap.newKeySet();
        java.util.concurrent.atomic.AtomicReference<String> line = new java.util.concurrent.atomic.AtomicReference<>();

        // a first run acknowledges at least 20 chunks and those of 3 ranges (some ranges in part, some not at
        // all), then stops: which range's chunks come first depends on the load of the machine
        PostgresCdcSource first = source.get();
        java.util.concurrent.atomic.AtomicInteger taken = new java.util.concurrent.atomic.AtomicInteger();
        first.read()
                .concatMap(c -> {
                    origins.add(c.origin());
                    if (!c.isParsed()) {
                        c.raw().parse().forEach(item -> keys.add(item.key().get("id")));
                    }
                    if (origins.size() >= 3 && line.get() == null) {
                        line.set(first.status().parts().get("public.big"));
                    }
                    return first.acknowledge(new dev.changepipe.core.Ack(c.origin(), c.offset(), c.offset(), c.completed(),
                            c.itemCount())).thenReturn(c);
                })
                .takeUntil(c -> taken.incrementAndGet() >= 20 && origins.size() >= 3)
                .blockLast(Duration.ofSeconds(30));
        assertThat(origins).as("the chunks of 3 ranges at once").hasSizeGreaterThanOrEqualTo(3)
                .allMatch(o -> o.matches("snapshot:public\\.big#[0-5]"));
        assertThat(line.get()).matches("snapshot: [0-9,]+ rows read, [0-6] of 6 key ranges written");
        dev.changepipe.core.Checkpoint kept = checkpoints.load(d.slot() + "/snapshot/public.big").block(Duration.ofSeconds(5));
        // which ranges started depends on which connection was ready first: at least one was cut short
        assertThat(kept.attributes()).containsKey("ranges");
        assertThat(kept.attributes()).as("a range cut short").hasEntrySatisfying(
                new org.assertj.core.api.Condition<>(k -> k.startsWith("range."), "a range"),
                new org.assertj.core.api.Condition<>(v -> v.startsWith("after:"), "read in part"));
        long readFirst = keys.size();
        assertThat(readFirst).isLessThan(30_000);

        // the next run copies only what is left of each range
        PostgresCdcSource second = source.get();
        AtomicLong readSecond = new AtomicLong();
        second.read()
                .concatMap(c -> {
                    if (!c.isParsed()) {
                        c.raw().parse().forEach(item -> keys.add(item.key().get("id")));
                        readSecond.incrementAndGet();
                    }
                    return second.acknowledge(new dev.changepipe.core.Ack(c.origin(), c.offset(), c.offset(),
                            c.completed(), c.itemCount())).thenReturn(c);
                })
                .takeUntil(c -> PostgresCdcSource.DONE.equals(second.snapshotState.get("public.big")))
                .blockLast(Duration.ofSeconds(30));
        assertThat(keys).as("every row, over both runs").hasSize(30_000);
        assertThat(readSecond.get()).as("chunks read again: the ranges written are not")
                .isLessThan(30_000 / 500);
        assertThat(second.snapshotState).containsEntry("public.big", PostgresCdcSource.DONE);
        assertThat(checkpoints.load(d.slot() + "/snapshot/public.big").block(Duration.ofSeconds(5)).attributes())
                .containsEntry("state", "done").doesNotContainKey("ranges");
    }
}
