package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PusherClosedException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** The guarantees of pusher/README.md as they apply to the sync pusher. */
class SyncPusherTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final List<Ack> acks = new CopyOnWriteArrayList<>();

    private SyncPusher pusher(ScriptedSink... sinks) {
        return SyncPusher.create("sync", List.of(sinks), acks::add, new SimpleMeterRegistry());
    }

    @Test
    void ackAfterDurabilityAPushParsesWritesAndAcksBeforeItCompletes() {
        ScriptedSink sink = new ScriptedSink();
        SyncPusher pusher = pusher(sink);
        pusher.push(TestChunks.raw("a", 1, 10, 2, false, () -> { })).block(WAIT);
        assertThat(sink.written).hasSize(1);
        assertThat(sink.written.get(0).items()).hasSize(2);
        assertThat(acks).containsExactly(new Ack("a", Offset.of(1), Offset.of(1), false, 2));
        assertThat(pusher.inFlightBytes()).isZero();
    }

    @Test
    void ackAfterDurabilityNoAckWhileASinkHasNotConfirmed() {
        ScriptedSink sink = new ScriptedSink().hold();
        SyncPusher pusher = pusher(new ScriptedSink(), sink);
        Mono<Void> push = pusher.push(TestChunks.items("a", 1, 1, false)).cache();
        push.subscribe();
        assertThat(acks).isEmpty();
        assertThat(pusher.inFlightChunks()).isEqualTo(1);
        sink.release("a", 1);
        push.block(WAIT);
        assertThat(acks).hasSize(1);
    }

    @Test
    void orderedWritesAndPerOriginProgress() {
        ScriptedSink sink = new ScriptedSink();
        SyncPusher pusher = pusher(sink);
        Flux.range(1, 20).concatMap(i -> pusher.push(TestChunks.items(i % 2 == 0 ? "a" : "b", i, 1, i >= 19)))
                .blockLast(WAIT);
        assertThat(sink.written).extracting(c -> c.offset().value())
                .containsExactlyElementsOf(Flux.range(1, 20).map(Long::valueOf).collectList().block());
        assertThat(pusher.progress().get("a").done()).isTrue();
        assertThat(pusher.progress().get("b").done()).isTrue();
    }

    @Test
    void hardMemoryBoundAPushWhileAnotherIsUnderWayIsRefused() {
        SyncPusher pusher = pusher(new ScriptedSink().hold());
        pusher.push(TestChunks.items("a", 1, 1, false)).subscribe();
        StepVerifier.create(pusher.push(TestChunks.items("a", 2, 1, false)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("one chunk at a time"))
                .verify(WAIT);
        assertThat(pusher.inFlightChunks()).isEqualTo(1);
    }

    @Test
    void hardMemoryBoundACancelledPushIsWithdrawnWithoutTrace() {
        ScriptedSink sink = new ScriptedSink().hold();
        SyncPusher pusher = pusher(sink);
        var before = pusher.progress();
        Disposable push = pusher.push(TestChunks.items("a", 1, 1, false)).subscribe();
        push.dispose();
        assertThat(pusher.inFlightChunks()).isZero();
        assertThat(pusher.progress().get("a")).isNull();
        assertThat(before).isEmpty();
        assertThat(acks).isEmpty();
    }

    @Test
    void firstErrorWinsAndLaterPushesFailAtOnce() {
        ScriptedSink sink = new ScriptedSink().behaviour(c -> c.offset().value() == 2
                ? Mono.error(new IllegalStateException("disk on fire")) : Mono.empty());
        SyncPusher pusher = pusher(sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        StepVerifier.create(pusher.push(TestChunks.items("a", 2, 1, false)))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("write failed: disk on fire")
                        .hasMessageContaining("origin a, offset 2"))
                .verify(WAIT);
        StepVerifier.create(pusher.push(TestChunks.items("a", 3, 1, false)))
                .expectError(PusherClosedException.class).verify(WAIT);
        StepVerifier.create(pusher.whenTerminated()).expectErrorMessage(
                "write failed: disk on fire [origin a, offset 2]").verify(WAIT);
        assertThat(acks).extracting(Ack::offset).containsExactly(Offset.of(1));
    }

    @Test
    void firstErrorWinsAParseError() {
        SyncPusher pusher = pusher(new ScriptedSink());
        StepVerifier.create(pusher.push(TestChunks.failingParse("a", 1, () -> new IllegalArgumentException("bad json"))))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("parse failed: bad json"))
                .verify(WAIT);
        assertThat(acks).isEmpty();
    }

    @Test
    void doubleAndUnknownAcksFailLoudlyAnOutOfOrderPushChangesNothing() {
        SyncPusher pusher = pusher(new ScriptedSink());
        pusher.push(TestChunks.items("a", 2, 1, false)).block(WAIT);
        StepVerifier.create(pusher.push(TestChunks.items("a", 2, 1, false)))
                .expectError(IllegalArgumentException.class).verify(WAIT);
        assertThat(acks).hasSize(1);
        assertThat(pusher.inFlightBytes()).isZero();
    }

    @Test
    void closeDrainsTheChunkUnderWay() {
        ScriptedSink sink = new ScriptedSink().hold();
        SyncPusher pusher = pusher(sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).subscribe();
        Mono<Void> closed = pusher.close(WAIT).cache();
        closed.subscribe(v -> { }, e -> { });
        StepVerifier.create(pusher.push(TestChunks.items("a", 2, 1, false)))
                .expectError(PusherClosedException.class).verify(WAIT);
        sink.release("a", 1);
        closed.block(WAIT);
        assertThat(acks).hasSize(1);
    }

    @Test
    void emptyCompletedChunkMarksTheOriginDoneWithoutWriting() {
        ScriptedSink sink = new ScriptedSink();
        SyncPusher pusher = pusher(sink);
        pusher.push(Chunk.end("empty", Offset.of(0))).block(WAIT);
        assertThat(sink.started).isEmpty();
        assertThat(acks).containsExactly(new Ack("empty", Offset.of(0), Offset.of(0), true, 0));
    }
}
