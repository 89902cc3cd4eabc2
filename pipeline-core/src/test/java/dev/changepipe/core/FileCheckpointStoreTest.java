package dev.changepipe.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileCheckpointStoreTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @Test
    void savedCheckpointsLoadBackWithTheirAttributes() {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        long token = store.claim("logs/app.log").block(WAIT);
        assertThat(store.load("logs/app.log").blockOptional(WAIT)).isEmpty();
        Checkpoint cp = new Checkpoint("logs/app.log", Offset.of(4096), Map.of("generation", "3", "inode", "x=1 y"));
        store.save(cp, token).block(WAIT);
        assertThat(FileCheckpointStore.open(dir).load("logs/app.log").block(WAIT)).isEqualTo(cp);
        assertThat(store.loadAll().collectList().block(WAIT)).containsExactly(cp);
    }

    @Test
    void anyOriginStringIsSafeAsAFileName() {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        for (String origin : List.of("../../etc/passwd", "a:b.c", "", "ünï/cødé\n\t", "x".repeat(500))) {
            long token = store.claim(origin).block(WAIT);
            store.save(new Checkpoint(origin, Offset.of(7)), token).block(WAIT);
            assertThat(store.load(origin).block(WAIT).offset()).isEqualTo(Offset.of(7));
            assertThat(store.fileOf(origin).getParent()).isEqualTo(dir);
        }
        assertThat(store.loadAll().collectList().block(WAIT)).hasSize(5);
    }

    @Test
    void aSaveWithAStaleClaimIsRefusedAndChangesNothing() {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        long old = store.claim("o").block(WAIT);
        store.save(new Checkpoint("o", Offset.of(10)), old).block(WAIT);
        long newer = store.claim("o").block(WAIT);
        assertThat(newer).isGreaterThan(old);
        assertThatThrownBy(() -> store.save(new Checkpoint("o", Offset.of(99)), old).block(WAIT))
                .isInstanceOf(CheckpointStore.StaleClaimException.class)
                .hasMessageContaining("origin o");
        assertThat(store.load("o").block(WAIT).offset()).isEqualTo(Offset.of(10));
        store.save(new Checkpoint("o", Offset.of(20)), newer).block(WAIT);
        assertThat(store.load("o").block(WAIT).offset()).isEqualTo(Offset.of(20));
    }

    @Test
    void deleteForgetsTheOffsetButKeepsOldClaimsStale() {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        long token = store.claim("o").block(WAIT);
        store.save(new Checkpoint("o", Offset.of(10)), token).block(WAIT);
        store.delete("o").block(WAIT);
        assertThat(store.load("o").blockOptional(WAIT)).isEmpty();
        assertThat(store.claim("o").block(WAIT)).isGreaterThan(token);
        assertThatThrownBy(() -> store.save(new Checkpoint("o", Offset.of(11)), token).block(WAIT))
                .isInstanceOf(CheckpointStore.StaleClaimException.class);
    }

    @Test
    void aTemporaryFileLeftByACrashedSaveIsIgnoredAndCleanedUp() throws IOException {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        long token = store.claim("o").block(WAIT);
        store.save(new Checkpoint("o", Offset.of(10)), token).block(WAIT);
        Path leftover = dir.resolve(".tmp-123-" + store.fileOf("o").getFileName());
        Files.writeString(leftover, "origin=o\ntoken=");
        assertThat(store.load("o").block(WAIT).offset()).isEqualTo(Offset.of(10));
        assertThat(store.loadAll().collectList().block(WAIT)).hasSize(1);
        store.save(new Checkpoint("o", Offset.of(11)), token).block(WAIT);
        assertThat(leftover).doesNotExist();
    }

    @Test
    void aDamagedCheckpointFileIsReportedNotIgnored() throws IOException {
        FileCheckpointStore store = FileCheckpointStore.open(dir);
        Files.writeString(store.fileOf("o"), "garbage");
        assertThatThrownBy(() -> store.load("o").block(WAIT))
                .isInstanceOf(PipelineException.class).hasMessageContaining("damaged");
    }

    /**
     * A child JVM saves checkpoints as fast as it can and reports each completed save; it is killed
     * with SIGKILL at random moments, again and again. Every time, the store still loads, and what it
     * loads is never older than the last save the child reported complete.
     */
    @Test
    void survivesACrashMidWrite() throws Exception {
        Random random = new Random();
        long lastReported = -1;
        for (int round = 0; round < 5; round++) {
            Process child = new ProcessBuilder(javaBinary(), "-cp", System.getProperty("java.class.path"),
                    CheckpointWriterMain.class.getName(), dir.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            int killAfter = 20 + random.nextInt(300);
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                int seen = 0;
                while ((line = out.readLine()) != null) {
                    lastReported = Long.parseLong(line.trim());
                    if (++seen == killAfter) {
                        child.destroyForcibly();
                        break;
                    }
                }
            }
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
            Checkpoint loaded = FileCheckpointStore.open(dir).load("crash-test").block(WAIT);
            assertThat(loaded).isNotNull();
            assertThat(loaded.offset().value()).isGreaterThanOrEqualTo(lastReported);
            assertThat(loaded.attributes()).containsEntry("check", Long.toString(loaded.offset().value() * 7));
        }
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
