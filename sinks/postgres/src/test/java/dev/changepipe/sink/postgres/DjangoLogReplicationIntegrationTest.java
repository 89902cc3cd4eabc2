package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Pipeline;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed use case end to end: a Django app changes its database and writes the operation log; the
 * oplog-file source reads the log through the parse-queue pusher into the PostgreSQL sink, which
 * applies it to a second database. The target must end equal to the app's database: after one run,
 * after the same log was applied twice, and after the replicator was killed (SIGKILL) mid-way and
 * restarted.
 */
@ExtendWith(PostgresServerExtension.class)
class DjangoLogReplicationIntegrationTest {

    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(2);
    /** The low 40 bits of an oplog version are the line's byte offset in the file. */
    private static final String PROGRESS = "SELECT coalesce(max(v & ((1::bigint << 40) - 1)), -1) FROM ("
            + "SELECT changepipe_version AS v FROM polls_question UNION ALL SELECT changepipe_version FROM polls_choice"
            + " UNION ALL SELECT version FROM changepipe_tombstones) AS all_versions";

    @TempDir
    Path dir;

    private PostgresServer postgres;
    private String sourceDb;
    private String targetDb;
    private long seed;

    @BeforeEach
    void databases(PostgresServer postgres) {
        this.postgres = postgres;
        sourceDb = postgres.createDatabase("django_app");
        targetDb = postgres.createDatabase("django_central");
        postgres.execute(sourceDb, DjangoApp.SCHEMA);
        postgres.execute(targetDb, DjangoApp.SCHEMA);
        seed = new Random().nextLong();
    }

    @Test
    void djangoLogAppliedFromTheOplogSourceLeavesTheTargetEqualToTheSource() throws IOException {
        Path log = appLog(1500);
        pipeline(log, dir.resolve("checkpoints"), postgres.r2dbcUrl(targetDb)).run().block(RUN_TIMEOUT);
        assertTargetEqualsSource();
    }

    @Test
    void applyingTheSameLogTwiceChangesNothing() throws IOException {
        Path log = appLog(1500);
        pipeline(log, dir.resolve("checkpoints-1"), postgres.r2dbcUrl(targetDb)).run().block(RUN_TIMEOUT);
        String once = targetWithVersionsAndTombstones();
        // Fresh checkpoints: the whole log is read and applied again, with the same versions.
        pipeline(log, dir.resolve("checkpoints-2"), postgres.r2dbcUrl(targetDb)).run().block(RUN_TIMEOUT);
        assertThat(targetWithVersionsAndTombstones()).as("seed " + seed).isEqualTo(once);
        assertTargetEqualsSource();
    }

    @Test
    void killedMidwayAndRestartedEndsEqualToTheSource() throws Exception {
        Path log = appLog(4000);
        long size = Files.size(log);
        Path checkpoints = dir.resolve("checkpoints");
        String url = postgres.r2dbcUrl(targetDb);
        long before = -1;
        for (int kill = 0; kill < 2; kill++) {
            Process child = start(log, checkpoints, url);
            long from = before;
            try {
                // Kill as soon as it made progress beyond the previous run's.
                await().atMost(RUN_TIMEOUT).pollInterval(Duration.ofMillis(20))
                        .until(() -> progress() > from || !child.isAlive());
            } finally {
                child.destroyForcibly(); // SIGKILL
                assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
            long at = progress();
            assertThat(at).as("kill %d happened mid-way (seed %d)", kill, seed).isGreaterThan(before).isLessThan(size - 1);
            before = at;
        }
        Process last = start(log, checkpoints, url);
        assertThat(last.waitFor(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(last.exitValue()).isZero();
        assertTargetEqualsSource();
    }

    static Pipeline pipeline(Path log, Path checkpoints, String url) {
        PostgresSink sink = PostgresSink.create(PostgresSinkOptions.builder().url(url).strictColumns(true)
                .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(200)).build());
        return ReplicatorMain.build(log, checkpoints, sink);
    }

    /** Runs the app, writes its log, and applies its changes to the source database. */
    private Path appLog(int steps) throws IOException {
        DjangoApp app = new DjangoApp(seed).run(steps);
        for (String batch : app.sqlBatches(60_000)) {
            postgres.execute(sourceDb, "BEGIN;\n" + batch + "COMMIT;");
        }
        assertThat(app.rows()).as("rows left in the app").isPositive();
        Path log = dir.resolve("app.log");
        Files.writeString(log, app.log(), StandardCharsets.UTF_8);
        return log;
    }

    private void assertTargetEqualsSource() {
        String source = postgres.execute(sourceDb, DjangoApp.DUMP);
        assertThat(source).isNotBlank();
        assertThat(postgres.execute(targetDb, DjangoApp.DUMP)).as("target vs source, seed " + seed).isEqualTo(source);
    }

    private String targetWithVersionsAndTombstones() {
        return postgres.execute(targetDb, "SELECT id, changepipe_version FROM polls_question ORDER BY id;"
                + " SELECT id, changepipe_version FROM polls_choice ORDER BY id;"
                + " SELECT table_name, row_key, version FROM changepipe_tombstones ORDER BY 1, 2;"
                + DjangoApp.DUMP);
    }

    private long progress() {
        try {
            return Long.parseLong(postgres.execute(targetDb, PROGRESS).strip());
        } catch (IllegalStateException e) {
            return -1; // the sink has not added its columns and tables yet
        }
    }

    private static Process start(Path log, Path checkpoints, String url) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                ReplicatorMain.class.getName(), log.toString(), checkpoints.toString(), url)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
    }
}
