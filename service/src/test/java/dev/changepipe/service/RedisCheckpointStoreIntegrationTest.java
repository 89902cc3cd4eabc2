package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Offset;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The checkpoints several instances share ({@code instances:}), in a real Redis: the store's contract. */
@ExtendWith(RedisServerExtension.class)
class RedisCheckpointStoreIntegrationTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private Instances instances;
    private RedisCheckpointStore store;

    @BeforeEach
    void open(RedisServer redis) {
        instances = new Instances(new ServiceConfig.Instances("main", "test", null, null), redis.uri(),
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
        String pipeline = "p" + Long.toHexString(System.nanoTime());
        store = new RedisCheckpointStore(pipeline, instances::redis);
    }

    @AfterEach
    void close() {
        instances.close();
    }

    @Test
    void savedCheckpointsLoadBackWithTheirAttributes() {
        long token = store.claim("logs/app.log").block(WAIT);
        assertThat(store.load("logs/app.log").blockOptional(WAIT)).isEmpty();
        Checkpoint cp = new Checkpoint("logs/app.log", Offset.of(4096), Map.of("generation", "3", "inode", "x=1 y"));
        store.save(cp, token).block(WAIT);
        assertThat(store.load("logs/app.log").block(WAIT)).isEqualTo(cp);
        for (String origin : List.of("../../etc/passwd", "a:b.c", "", "ünï/cødé\n\t\"")) {
            long t = store.claim(origin).block(WAIT);
            store.save(new Checkpoint(origin, Offset.of(7)), t).block(WAIT);
        }
        assertThat(store.loadAll().collectList().block(WAIT)).hasSize(5).contains(cp)
                .anyMatch(c -> c.origin().equals("ünï/cødé\n\t\"") && c.offset().equals(Offset.of(7)));
    }

    @Test
    void aSaveWithAStaleClaimIsRefusedAndChangesNothing() {
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
    void checkpointsKeptInADirectoryBeforeAreCopiedOnceWithoutOverwritingNewerOnesOrReopeningOldClaims(
            @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        dev.changepipe.core.FileCheckpointStore files = dev.changepipe.core.FileCheckpointStore.open(dir);
        for (String origin : List.of("old.log", "both.log")) {
            files.save(new Checkpoint(origin, Offset.of(100), Map.of("generation", "2")), files.claim(origin).block(WAIT))
                    .block(WAIT);
        }
        long newer = store.claim("both.log").block(WAIT);
        store.save(new Checkpoint("both.log", Offset.of(500)), newer).block(WAIT);
        long claimedBefore = store.claim("old.log").block(WAIT);

        assertThat(store.importFrom(files).block(WAIT)).isEqualTo(1);
        assertThat(store.load("old.log").block(WAIT)).isEqualTo(new Checkpoint("old.log", Offset.of(100), Map.of("generation", "2")));
        assertThat(store.load("both.log").block(WAIT).offset()).isEqualTo(Offset.of(500));
        // a writer that claimed the origin before the copy cannot save over it
        assertThatThrownBy(() -> store.save(new Checkpoint("old.log", Offset.of(1)), claimedBefore).block(WAIT))
                .isInstanceOf(CheckpointStore.StaleClaimException.class);
        assertThat(store.importFrom(files).block(WAIT)).isZero();
    }

    @Test
    void deleteForgetsTheOffsetButKeepsOldClaimsStale() {
        long token = store.claim("o").block(WAIT);
        store.save(new Checkpoint("o", Offset.of(10)), token).block(WAIT);
        store.delete("o").block(WAIT);
        assertThat(store.load("o").blockOptional(WAIT)).isEmpty();
        assertThat(store.claim("o").block(WAIT)).isGreaterThan(token);
        assertThatThrownBy(() -> store.save(new Checkpoint("o", Offset.of(11)), token).block(WAIT))
                .isInstanceOf(CheckpointStore.StaleClaimException.class);
    }
}
