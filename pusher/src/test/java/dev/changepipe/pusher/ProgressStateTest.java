package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.OriginProgress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/** Guarantees 4 and 5 of pusher/README.md, on the state both pushers share. */
class ProgressStateTest {

    private final ProgressState state = new ProgressState();

    @RepeatedTest(20)
    void perOriginProgressCommittableIsTheLowWatermarkWhateverTheAckOrder() {
        Random random = new Random();
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 1; i <= 50; i++) {
            Chunk c = TestChunks.items("a", i * 10L, 3, i == 50);
            chunks.add(c);
            state.register(c);
        }
        List<Chunk> order = new ArrayList<>(chunks);
        Collections.shuffle(order, random);
        List<Long> acked = new ArrayList<>();
        for (Chunk c : order) {
            Ack ack = state.ack(c, 3);
            acked.add(c.offset().value());
            long expected = lowWatermark(chunks, acked);
            if (expected < 0) {
                assertThat(ack.committable()).isNull();
            } else {
                assertThat(ack.committable()).isEqualTo(Offset.of(expected));
            }
            assertThat(ack.originDone()).isEqualTo(acked.size() == chunks.size());
        }
        OriginProgress progress = state.snapshot().get("a");
        assertThat(progress.done()).isTrue();
        assertThat(progress.committable()).isEqualTo(Offset.of(500));
        assertThat(progress.inFlightChunks()).isZero();
        assertThat(state.inFlightBytes()).isZero();
    }

    private static long lowWatermark(List<Chunk> pushed, List<Long> acked) {
        long watermark = -1;
        for (Chunk c : pushed) {
            if (!acked.contains(c.offset().value())) {
                break;
            }
            watermark = c.offset().value();
        }
        return watermark;
    }

    @Test
    void perOriginProgressOriginsAreIndependent() {
        Chunk a1 = TestChunks.items("a", 1, 1, false);
        Chunk b1 = TestChunks.items("b", 1, 1, true);
        Chunk a2 = TestChunks.items("a", 2, 1, true);
        state.register(a1);
        state.register(b1);
        state.register(a2);
        assertThat(state.ack(b1, 1).originDone()).isTrue();
        Ack a2ack = state.ack(a2, 1);
        assertThat(a2ack.committable()).isNull();
        assertThat(a2ack.originDone()).isFalse();
        Ack a1ack = state.ack(a1, 1);
        assertThat(a1ack.committable()).isEqualTo(Offset.of(2));
        assertThat(a1ack.originDone()).isTrue();
    }

    @Test
    void perOriginProgressEmptyOriginIsDone() {
        Chunk end = Chunk.end("empty", Offset.of(0));
        state.register(end);
        Ack ack = state.ack(end, 0);
        assertThat(ack.originDone()).isTrue();
        assertThat(state.snapshot().get("empty").done()).isTrue();
    }

    @Test
    void perOriginProgressDoneIsStickyAndNothingMayFollowTheCompletedChunk() {
        Chunk last = TestChunks.items("a", 5, 1, true);
        state.register(last);
        state.ack(last, 1);
        assertThatThrownBy(() -> state.register(TestChunks.items("a", 6, 1, false)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("already completed");
        assertThatThrownBy(() -> state.ack(last, 1)).isInstanceOf(IllegalStateException.class);
        assertThat(state.snapshot().get("a").done()).isTrue();
    }

    @Test
    void perOriginProgressRejectsOffsetsThatDoNotIncrease() {
        state.register(TestChunks.items("a", 5, 1, false));
        assertThatThrownBy(() -> state.register(TestChunks.items("a", 5, 1, false)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not increase");
        assertThatThrownBy(() -> state.register(TestChunks.items("a", 4, 1, false)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(state.inFlightChunks()).isEqualTo(1);
    }

    @Test
    void doubleAndUnknownAcksFailLoudlyAndChangeNoCounter() {
        Chunk c1 = TestChunks.items("a", 1, 2, false);
        Chunk c2 = TestChunks.items("a", 2, 2, false);
        state.register(c1);
        state.register(c2);
        state.ack(c1, 2);
        long bytes = state.inFlightBytes();
        int chunks = state.inFlightChunks();
        var before = state.snapshot();

        assertThatThrownBy(() -> state.ack(c1, 2))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("double ack").hasMessageContaining("a@1");
        assertThatThrownBy(() -> state.ack(TestChunks.items("a", 7, 2, false), 2))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("unknown ack");
        assertThatThrownBy(() -> state.ack(TestChunks.items("nowhere", 1, 2, false), 2))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("unknown ack");
        // Same offset as a chunk in flight, another size: not the chunk that was admitted.
        assertThatThrownBy(() -> state.ack(TestChunks.items("a", 2, 5, false), 5))
                .isInstanceOf(IllegalStateException.class);

        assertThat(state.inFlightBytes()).isEqualTo(bytes).isPositive();
        assertThat(state.inFlightChunks()).isEqualTo(chunks).isEqualTo(1);
        assertThat(state.snapshot()).isEqualTo(before);
        state.ack(c2, 2);
        assertThat(state.inFlightBytes()).isZero();
    }

    @Test
    void withdrawForgetsTheLastChunkAsIfItWasNeverPushed() {
        Chunk c1 = TestChunks.items("a", 1, 1, false);
        Chunk c2 = TestChunks.items("a", 2, 1, true);
        state.register(c1);
        state.register(c2);
        state.withdraw(c2);
        assertThat(state.inFlightChunks()).isEqualTo(1);
        assertThat(state.snapshot().get("a").completedPushed()).isFalse();
        state.register(c2);
        state.ack(c1, 1);
        assertThat(state.ack(c2, 1).originDone()).isTrue();
    }
}
