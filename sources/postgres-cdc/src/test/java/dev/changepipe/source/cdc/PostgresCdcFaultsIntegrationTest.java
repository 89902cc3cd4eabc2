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
 * The stream's faults against a real PostgreSQL: a backlog read by a consumer slower than the server (and
 * asking from its own thread, as the pusher does) arrives whole; a walsender ended by the server and a slot
 * held by another connection are transient faults (the service restarts the pipeline), named, and the next
 * run reads on from the slot.
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
                d.publication(), d.createPublication(), false, 1, chunkRows, d.chunkBytes(), d.linger(),
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
}
