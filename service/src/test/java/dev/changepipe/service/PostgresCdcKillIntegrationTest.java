package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code type: postgres-cdc} through {@code ./pipeline run}, SIGKILLed during its snapshot (in key ranges, two at
 * once) and twice while
 * streaming, with an application writing all along. After each kill, every transaction the slot's
 * confirmed position covers is in ClickHouse (the slot never passed unwritten data); after the last
 * restart ClickHouse ({@code FINAL}, not deleted) equals PostgreSQL, and again after rows deleted in
 * ClickHouse are restored by `./pipeline resync --table items` (the table copied again), and after a pause (the
 * slot released, its position kept) and a resume.
 */
@ExtendWith({PostgresServerExtension.class, ClickHouseServerExtension.class})
class PostgresCdcKillIntegrationTest {

    private static final Map<String, String> ENV = Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN);
    private static final Duration T = Duration.ofSeconds(120);
    private static final long FIRST_WRITE = 1_000_000;

    /** A transaction of the writer: the row it inserted and the WAL position read right after its commit. */
    private record Written(long id, long lsnAfter) {
    }

    @Test
    void theSlotNeverPassesUnwrittenDataAcrossKillsDuringSnapshotAndStream(PostgresServer pg, ClickHouseServer ch,
            @TempDir Path dir) throws Exception {
        String pgDb = pg.createDatabase("cdc_kill");
        pg.execute(pgDb, "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL); "
                + "INSERT INTO items SELECT g, 'snap' || g, 0 FROM generate_series(1, 300000) g");
        String chDb = ch.createDatabase("cdc_kill");
        ch.execute("CREATE TABLE " + chDb + ".items (id Int64, name String, n Int64, version UInt64, is_deleted UInt8) "
                + "ENGINE = ReplacingMergeTree(version) ORDER BY id");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, pg.r2dbcUrl(pgDb), ch.httpUrl(), chDb, pgDb));
        String slot = "changepipe_" + pgDb;

        ConcurrentLinkedQueue<Written> written = new ConcurrentLinkedQueue<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        Thread writer = new Thread(() -> write(pg, pgDb, written, writing), "application");
        try {
            // 1: killed while the snapshot is being written (the application starts once the slot exists:
            // what committed before it is the snapshot's, which the confirmed position does not cover)
            try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
                await().atMost(T).until(() -> service.output().contains("created replication slot"));
                writer.start();
                await().atMost(T).pollInterval(Duration.ofMillis(20)).until(() -> rows(ch, chDb) > 20_000);
                String table = service.pipeline(pgDb).get("sourceParts").get("public.items").asText();
                service.kill();
                assertThat(table).as("the table's status line").matches("snapshot: [0-9,]+ rows read.*");
                assertThat(service.output()).as("killed before the snapshot was written")
                        .doesNotContain("snapshot of table public.items written");
            }
            checkConfirmedIsWritten(pg, pgDb, ch, chDb, slot, written);
            // 2 and 3: killed while streaming
            for (int round = 0; round < 2; round++) {
                try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
                    if (round == 0) {
                        await().atMost(T).until(() -> service.output().contains("snapshot of table public.items written"));
                    }
                    long target = written.size() + 50;
                    await().atMost(T).until(() -> written.size() > target);
                    service.kill();
                }
                checkConfirmedIsWritten(pg, pgDb, ch, chDb, slot, written);
            }
            writing.set(false);
            writer.join(T.toMillis());
            try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
                await().atMost(T).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                        assertThat(clickHouse(ch, chDb)).containsExactlyElementsOf(postgres(pg, pgDb)));
                assertThat(service.pipeline(pgDb).get("sourceParts").get("public.items").asText()).isEqualTo("streaming");

                // rows lost in ClickHouse behind the pipeline's back; `resync --table` copies the table again
                ch.execute("ALTER TABLE " + chDb + ".items DELETE WHERE id <= 1000");
                await().atMost(T).until(() -> rows(ch, chDb + ".items WHERE id <= 1000") == 0);
                var resync = ServiceUnderTest.launcher(Map.of("CHANGEPIPE_TOKEN", ServiceUnderTest.TOKEN), "resync",
                        "--url", service.url(""), "--table", "items");
                assertThat(resync.getValue()).contains("copying table items of pipeline " + pgDb + " again");
                assertThat(resync.getKey()).isZero();
                await().atMost(T).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                        assertThat(clickHouse(ch, chDb)).containsExactlyElementsOf(postgres(pg, pgDb)));
                assertThat(service.post("/api/pipelines/" + pgDb + "/resync", ServiceUnderTest.TOKEN,
                        "{\"part\": \"nothing\"}").statusCode()).isEqualTo(404);

                // paused: the slot is released and keeps its position; changes made meanwhile arrive on resume
                assertThat(service.post("/api/pipelines/" + pgDb + "/pause", ServiceUnderTest.TOKEN, "").statusCode())
                        .isEqualTo(200);
                assertThat(service.pipeline(pgDb).get("state").asText()).isEqualTo("STOPPED");
                await().atMost(T).until(() -> pg.execute(pgDb, "SELECT active FROM pg_replication_slots WHERE "
                        + "slot_name = '" + slot + "'").trim().equals("f"));
                pg.execute(pgDb, "UPDATE items SET name = 'while paused' WHERE id BETWEEN 5000 AND 5099");
                assertThat(service.post("/api/pipelines/" + pgDb + "/resume", ServiceUnderTest.TOKEN, "").statusCode())
                        .isEqualTo(200);
                await().atMost(T).pollInterval(Duration.ofMillis(500)).untilAsserted(() ->
                        assertThat(clickHouse(ch, chDb)).containsExactlyElementsOf(postgres(pg, pgDb)));
                assertThat(service.terminate(Duration.ofSeconds(60))).isZero();
            }
            assertThat(written).hasSizeGreaterThan(100);
        } finally {
            writing.set(false);
            writer.join(T.toMillis());
            pg.execute(pgDb, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '"
                    + slot + "' AND NOT active");
        }
    }

    /** Inserts a row, updates and deletes older ones, one transaction at a time, recording the WAL position after each. */
    private static void write(PostgresServer pg, String db, ConcurrentLinkedQueue<Written> written, AtomicBoolean writing) {
        long id = FIRST_WRITE;
        while (writing.get()) {
            id++;
            String lsn = pg.execute(db, "BEGIN; INSERT INTO items VALUES (" + id + ", 'app" + id + "', " + id + "); "
                    + "UPDATE items SET n = n + 1, name = 'changed' WHERE id = " + (id % 300_000 + 1) + "; "
                    + "DELETE FROM items WHERE id = " + ((id * 7) % 300_000 + 1) + "; COMMIT; SELECT pg_current_wal_insert_lsn()")
                    .trim();
            written.add(new Written(id, lsn(lsn)));
        }
    }

    /** Every transaction that ended before the slot's confirmed position has its row in ClickHouse. */
    private static void checkConfirmedIsWritten(PostgresServer pg, String pgDb, ClickHouseServer ch, String chDb,
            String slot, ConcurrentLinkedQueue<Written> written) {
        String confirmed = pg.execute(pgDb, "SELECT coalesce(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots "
                + "WHERE slot_name = '" + slot + "'").trim();
        long c = lsn(confirmed);
        List<Long> covered = new ArrayList<>();
        for (Written w : written) {
            if (w.lsnAfter() <= c) {
                covered.add(w.id());
            }
        }
        Set<Long> inClickHouse = new HashSet<>();
        // streamed (version > 0): a snapshot that resumed after a kill may have copied the row as well
        ch.execute("SELECT DISTINCT id FROM " + chDb + ".items WHERE id > " + FIRST_WRITE + " AND version > 0 "
                + "FORMAT TabSeparated")
                .lines().filter(l -> !l.isBlank()).forEach(l -> inClickHouse.add(Long.parseLong(l.trim())));
        assertThat(inClickHouse).as("streamed rows of the transactions before the confirmed position %s", confirmed)
                .containsAll(covered);
    }

    /** Rows of {@code from}: a database (its {@code items}) or {@code db.items WHERE ...}. */
    /** Rows of {@code from}: a table, or a database (its {@code items}), with any condition after it. */
    static long rows(ClickHouseServer ch, String from) {
        return Long.parseLong(ch.execute("SELECT count() FROM " + (from.contains(".") ? from : from + ".items")).trim());
    }

    private static List<String> postgres(PostgresServer pg, String db) {
        return pg.execute(db, "SELECT id, name, n FROM items ORDER BY id").lines().filter(l -> !l.isBlank())
                .map(l -> l.replace('|', '\t')).toList();
    }

    private static List<String> clickHouse(ClickHouseServer ch, String db) {
        return ch.execute("SELECT id, name, n FROM " + db + ".items FINAL WHERE is_deleted = 0 ORDER BY id "
                + "FORMAT TabSeparated").lines().filter(l -> !l.isBlank()).toList();
    }

    private static long lsn(String text) {
        int slash = text.indexOf('/');
        return Long.parseLong(text.substring(0, slash), 16) << 32 | Long.parseLong(text.substring(slash + 1), 16);
    }

    private static String config(Path dir, String pgUrl, String clickHouseUrl, String chDb, String pipeline) {
        return config(dir, pgUrl, clickHouseUrl, chDb, pipeline, 60_000);
    }

    /**
     * A postgres-cdc pipeline of table {@code items} into {@code chDb.items} (which the test creates), its
     * copy split in key ranges of {@code snapshotRangeRows} rows, two copied at once.
     */
    static String config(Path dir, String pgUrl, String clickHouseUrl, String chDb, String pipeline, int snapshotRangeRows) {
        return """
                http:
                  host: 127.0.0.1
                  port: 0
                  portFile: %1$s/http.port
                  token: ${SERVICE_TOKEN}
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  postgres:
                    app:
                      url: "%2$s"
                  clickhouse:
                    test:
                      endpoints: ["%3$s"]
                      database: %4$s
                pipelines:
                  - name: %5$s
                    source:
                      type: postgres-cdc
                      connection: app
                      tables: [items]
                      chunkRows: 2000
                      # the copy is split in key ranges, two copied at once: a kill cuts several
                      snapshotRangeRows: %6$d
                    sinks:
                      - type: clickhouse
                        connection: test
                """.formatted(dir, pgUrl, clickHouseUrl, chDb, pipeline, snapshotRangeRows);
    }
}
