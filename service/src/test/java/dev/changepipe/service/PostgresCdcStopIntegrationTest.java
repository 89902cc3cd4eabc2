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
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code type: postgres-cdc} through {@code ./pipeline run}, stopped with SIGTERM while its snapshot's
 * {@code COPY}s are being read (two key ranges at once, each on a JDBC connection of its own): the reads
 * are cut, the service exits 0, and the next run copies what is left, so that ClickHouse then holds every
 * row once ({@code FINAL}).
 */
@ExtendWith({PostgresServerExtension.class, ClickHouseServerExtension.class})
class PostgresCdcStopIntegrationTest {

    private static final Map<String, String> ENV = Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN);
    private static final Duration T = Duration.ofSeconds(60);
    private static final int ROWS = 1_000_000;

    @Test
    void aServiceStoppedDuringTheSnapshotsCopyExitsCleanlyAndTheNextRunCopiesTheRest(PostgresServer pg,
            ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String pgDb = pg.createDatabase("cdc_stop");
        pg.execute(pgDb, "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, n bigint NOT NULL); "
                + "INSERT INTO items SELECT g, 'snap' || g, g % 7 FROM generate_series(1, " + ROWS + ") g");
        String chDb = ch.createDatabase("cdc_stop");
        ch.execute("CREATE TABLE " + chDb + ".items (id Int64, name String, n Int64, version UInt64, is_deleted UInt8) "
                + "ENGINE = ReplacingMergeTree(version) ORDER BY id");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, PostgresCdcKillIntegrationTest.config(dir, pg.r2dbcUrl(pgDb), ch.httpUrl(), chDb, pgDb,
                250_000));

        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            try {
                await().atMost(T).pollInterval(Duration.ofMillis(20))
                        .until(() -> PostgresCdcKillIntegrationTest.rows(ch, chDb) > 20_000);
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                throw new AssertionError("no rows written; the service's output:\n" + service.output(), e);
            }
            assertThat(service.terminate(Duration.ofSeconds(60))).as("exit code of a stop during the copy").isZero();
            assertThat(service.output()).as("stopped before the snapshot was written")
                    .doesNotContain("snapshot of table public.items written");
        }
        long first = PostgresCdcKillIntegrationTest.rows(ch, chDb);
        assertThat(first).as("rows written by the first run").isLessThan(ROWS);

        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), ENV)) {
            await().atMost(T).until(() -> service.output().contains("snapshot of table public.items written"));
            await().atMost(T).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> assertThat(ch.execute(
                    "SELECT count(), uniqExact(id), sum(n) FROM " + chDb + ".items FINAL WHERE is_deleted = 0 FORMAT TSV")
                    .trim()).isEqualTo(ROWS + "\t" + ROWS + "\t" + pg.execute(pgDb, "SELECT sum(n) FROM items").trim()));
            assertThat(service.terminate(Duration.ofSeconds(60))).isZero();
        }
    }
}
