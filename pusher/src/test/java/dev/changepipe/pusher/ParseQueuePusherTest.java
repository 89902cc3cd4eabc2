package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.PipelineMetrics;
import dev.changepipe.core.PusherClosedException;
import dev.changepipe.core.SinkException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** One test (or a few) per guarantee of pusher/README.md. */
class ParseQueuePusherTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final List<Ack> acks = new CopyOnWriteArrayList<>();
    private final List<ParseQueuePusher> pushers = new ArrayList<>();

    @AfterEach
    void abortAll() {
        pushers.forEach(ParseQueuePusher::abort);
    }

    private ParseQueuePusher pusher(int parallelism, long limit, ScriptedSink... sinks) {
        return pusher(parallelism, limit, acks::add, sinks);
    }

    private ParseQueuePusher pusher(int parallelism, long limit, Consumer<Ack> onAck, ScriptedSink... sinks) {
        ParseQueuePusher p = ParseQueuePusher.create("test", List.of(sinks), onAck,
                ParseQueueOptions.builder().parallelism(parallelism).inFlightLimitBytes(limit).build(), registry);
        pushers.add(p);
        return p;
    }

    private ParseQueuePusher pusher(ParseQueueOptions options, ScriptedSink... sinks) {
        ParseQueuePusher p = ParseQueuePusher.create("test", List.of(sinks), acks::add, options, registry);
        pushers.add(p);
        return p;
    }

    private static List<String> offsets(List<Chunk> chunks) {
        return chunks.stream().map(c -> c.origin() + "@" + c.offset()).toList();
    }

    @Test
    void orderedWritesEvenWhenLaterChunksAreParsedFirst() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(4, 1 << 20, sink);
        int n = 8;
        List<CountDownLatch> gates = new ArrayList<>();
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            CountDownLatch gate = new CountDownLatch(1);
            gates.add(gate);
            chunks.add(TestChunks.raw(i % 2 == 0 ? "a" : "b", i + 1, 100, 3, false, () -> pass(gate)));
        }
        Flux.fromIterable(chunks).concatMap(pusher::push).blockLast(WAIT);
        // Release the parses from last to first: the writes must still come in push order.
        for (int i = n - 1; i >= 0; i--) {
            gates.get(i).countDown();
        }
        pusher.close(WAIT).block(WAIT);
        assertThat(offsets(sink.written)).isEqualTo(offsets(chunks));
        assertThat(sink.written.stream().flatMap(c -> c.items().stream()).map(TestChunks::chunkOf).distinct().toList())
                .containsExactlyElementsOf(chunks.stream().map(c -> c.origin() + "/" + c.offset()).toList());
    }

    @Test
    void orderedWritesOneChunkAtATimePerSink() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        Flux.range(1, 3).concatMap(i -> pusher.push(TestChunks.items("a", i, 2, false))).blockLast(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        assertThat(sink.started).hasSize(1);
        sink.release("a", 1);
        await().until(() -> sink.isHeld("a", 2));
        assertThat(sink.started).hasSize(2);
    }

    @Test
    void ackAfterDurabilityOfEverySinkAndInPushOrder() {
        ScriptedSink first = new ScriptedSink("first").hold();
        ScriptedSink second = new ScriptedSink("second").hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, first, second);
        pusher.push(TestChunks.items("a", 1, 2, false)).block(WAIT);
        pusher.push(TestChunks.items("a", 2, 2, true)).block(WAIT);
        await().until(() -> first.isHeld("a", 1) && second.isHeld("a", 1));

        first.release("a", 1);
        assertThat(acks).isEmpty();
        assertThat(pusher.inFlightChunks()).isEqualTo(2);
        second.release("a", 1);
        await().until(() -> acks.size() == 1);
        assertThat(acks.get(0)).isEqualTo(new Ack("a", Offset.of(1), Offset.of(1), false, 2));

        await().until(() -> first.isHeld("a", 2) && second.isHeld("a", 2));
        second.release("a", 2);
        first.release("a", 2);
        await().until(() -> acks.size() == 2);
        assertThat(acks.get(1)).isEqualTo(new Ack("a", Offset.of(2), Offset.of(2), true, 2));
        assertThat(pusher.inFlightBytes()).isZero();
    }

    @Test
    void hardMemoryBoundAPushOverTheLimitWaitsHoldingNoThreadAndResumesOnAck() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1000, sink);
        pusher.push(TestChunks.sized("a", 1, 400, 1)).block(WAIT);
        pusher.push(TestChunks.sized("a", 2, 400, 1)).block(WAIT);

        AtomicBoolean admitted = new AtomicBoolean();
        // subscribe() returns at once on this thread: the waiting push holds no thread.
        Disposable third = pusher.push(TestChunks.sized("a", 3, 400, 1)).subscribe(v -> { }, e -> { },
                () -> admitted.set(true));
        assertThat(admitted).isFalse();
        assertThat(pusher.waitingPushes()).isEqualTo(1);
        assertThat(pusher.inFlightBytes()).isEqualTo(800);

        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        await().untilTrue(admitted);
        assertThat(pusher.inFlightBytes()).isEqualTo(800);
        assertThat(third.isDisposed()).isTrue();
    }

    @Test
    void hardMemoryBoundAnOversizedChunkIsAdmittedOnlyAlone() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1000, sink);
        pusher.push(TestChunks.sized("a", 1, 10, 1)).block(WAIT);
        AtomicBoolean admitted = new AtomicBoolean();
        pusher.push(TestChunks.sized("a", 2, 5000, 1)).subscribe(v -> { }, e -> { }, () -> admitted.set(true));
        assertThat(admitted).isFalse();
        // A small chunk pushed later does not overtake the waiting oversized one.
        AtomicBoolean small = new AtomicBoolean();
        pusher.push(TestChunks.sized("b", 1, 10, 1)).subscribe(v -> { }, e -> { }, () -> small.set(true));
        assertThat(small).isFalse();

        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        await().untilTrue(admitted);
        assertThat(pusher.inFlightBytes()).isEqualTo(5000);
        assertThat(small).isFalse();
        await().until(() -> sink.isHeld("a", 2));
        sink.release("a", 2);
        await().untilTrue(small);
        assertThat(pusher.inFlightBytes()).isEqualTo(10);
    }

    @Test
    void hardMemoryBoundCancellingAWaitingPushLeavesNoTrace() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 100, sink);
        pusher.push(TestChunks.sized("a", 1, 100, 1)).block(WAIT);
        var before = pusher.progress();

        Disposable waiting = pusher.push(TestChunks.sized("a", 2, 50, 1)).subscribe();
        assertThat(pusher.waitingPushes()).isEqualTo(1);
        waiting.dispose();
        assertThat(pusher.waitingPushes()).isZero();
        assertThat(pusher.progress()).isEqualTo(before);
        assertThat(pusher.inFlightBytes()).isEqualTo(100);

        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        await().until(() -> acks.size() == 1);
        // The withdrawn offset may be pushed again: it left no trace.
        pusher.push(TestChunks.sized("a", 2, 50, 1)).block(WAIT);
        await().until(() -> sink.isHeld("a", 2));
        sink.release("a", 2);
        pusher.close(WAIT).block(WAIT);
        assertThat(offsets(sink.written)).containsExactly("a@1", "a@2");
    }

    @Test
    void perOriginProgressAnOriginIsDoneAfterItsCompletedChunkAndEveryChunkIsAcked() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        pusher.push(Chunk.end("empty", Offset.of(0))).block(WAIT);
        pusher.push(TestChunks.items("a", 2, 1, true)).block(WAIT);
        pusher.close(WAIT).block(WAIT);
        assertThat(pusher.progress().get("a").done()).isTrue();
        assertThat(pusher.progress().get("a").committable()).isEqualTo(Offset.of(2));
        assertThat(pusher.progress().get("empty").done()).isTrue();
        assertThat(acks).extracting(Ack::originDone).containsExactly(false, true, true);
    }

    @Test
    void perOriginProgressAPushThatBreaksItsOriginsOrderFailsAndChangesNothing() {
        ParseQueuePusher pusher = pusher(1, 1 << 20, new ScriptedSink().hold());
        pusher.push(TestChunks.items("a", 5, 1, false)).block(WAIT);
        StepVerifier.create(pusher.push(TestChunks.items("a", 5, 1, false)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("does not increase"))
                .verify(WAIT);
        assertThat(pusher.inFlightChunks()).isEqualTo(1);
    }

    @Test
    void firstErrorWinsAWriteErrorEndsThePusherNamingOriginAndOffset() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 250, sink);
        pusher.push(TestChunks.sized("a", 1, 100, 1)).block(WAIT);
        pusher.push(TestChunks.sized("a", 2, 100, 1)).block(WAIT);
        AtomicReference<Throwable> waitingError = new AtomicReference<>();
        // 200 more bytes do not fit even after a@1 is acknowledged: this push keeps waiting.
        pusher.push(TestChunks.sized("a", 3, 200, 1)).subscribe(v -> { }, waitingError::set);

        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        await().until(() -> sink.isHeld("a", 2));
        sink.failHeld("a", 2, SinkException.permanent("scripted", "app_item", null, "boom", null));

        StepVerifier.create(pusher.whenTerminated())
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(PipelineException.class)
                        .hasMessageContaining("write failed").hasMessageContaining("boom")
                        .hasMessageContaining("origin a").hasMessageContaining("offset 2"))
                .verify(WAIT);
        // Nothing after the failed chunk is acknowledged; the waiting push and any later one fail.
        assertThat(acks).extracting(Ack::offset).containsExactly(Offset.of(1));
        await().until(() -> waitingError.get() != null);
        assertThat(waitingError.get()).isInstanceOf(PusherClosedException.class);
        StepVerifier.create(pusher.push(TestChunks.sized("a", 9, 1, 1)))
                .expectError(PusherClosedException.class).verify(WAIT);
        StepVerifier.create(pusher.close(WAIT)).expectError(PusherClosedException.class).verify(WAIT);
    }

    @Test
    void firstErrorWinsAParseErrorEndsThePusherAndLaterChunksAreNotWritten() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        CountDownLatch gate = new CountDownLatch(1);
        CountDownLatch failGate = new CountDownLatch(1);
        pusher.push(TestChunks.raw("a", 1, 10, 1, false, () -> pass(gate))).block(WAIT);
        pusher.push(TestChunks.failingParse("a", 2, () -> {
            pass(failGate);
            return new IllegalStateException("bad line");
        })).block(WAIT);
        pusher.push(TestChunks.items("a", 3, 1, false)).block(WAIT);
        failGate.countDown();
        StepVerifier.create(pusher.whenTerminated())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("parse failed: bad line")
                        .hasMessageContaining("origin a, offset 2"))
                .verify(WAIT);
        gate.countDown();
        assertThat(sink.started).isEmpty();
        assertThat(acks).isEmpty();
    }

    @Test
    void firstErrorWinsAnAckErrorEndsThePusher() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(1, 1 << 20, ack -> {
            throw new IllegalStateException("checkpoint disk full");
        }, sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        StepVerifier.create(pusher.whenTerminated())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("ack failed: checkpoint disk full"))
                .verify(WAIT);
    }

    @Test
    void firstErrorWinsOnlyTheFirstOfSeveralErrorsIsReported() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(1, 1 << 20, sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        sink.failHeld("a", 1, new IllegalStateException("first"));
        pusher.abort();
        StepVerifier.create(pusher.whenTerminated())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("first"))
                .verify(WAIT);
    }

    @Test
    void closeDrainsEveryAdmittedChunkAndRefusesNewOnes() {
        ScriptedSink sink = new ScriptedSink().behaviour(c -> Mono.delay(Duration.ofMillis(1)).then());
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        Flux.range(1, 50).concatMap(i -> pusher.push(TestChunks.raw("a", i, 10, 2, false, () -> { })))
                .blockLast(WAIT);
        pusher.close(WAIT).block(WAIT);
        assertThat(sink.written).hasSize(50);
        assertThat(acks).hasSize(50);
        assertThat(pusher.inFlightChunks()).isZero();
        StepVerifier.create(pusher.push(TestChunks.items("a", 51, 1, false)))
                .expectError(PusherClosedException.class).verify(WAIT);
        StepVerifier.create(pusher.whenTerminated()).verifyComplete();
    }

    @Test
    void closeDrainsAndFailsPushesStillWaitingForRoom() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(1, 100, sink);
        pusher.push(TestChunks.sized("a", 1, 100, 1)).block(WAIT);
        AtomicReference<Throwable> waiting = new AtomicReference<>();
        pusher.push(TestChunks.sized("a", 2, 100, 1)).subscribe(v -> { }, waiting::set);
        Mono<Void> closed = pusher.close(WAIT).cache();
        closed.subscribe(v -> { }, e -> { });
        assertThat(waiting.get()).isInstanceOf(PusherClosedException.class);
        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        closed.block(WAIT);
        assertThat(offsets(sink.written)).containsExactly("a@1");
    }

    @Test
    void closeThatCannotDrainInTimeAbortsAndAcksNothingFurther() {
        ScriptedSink sink = new ScriptedSink().hold();
        StepVerifier.withVirtualTime(() -> {
                    ParseQueuePusher pusher = pusher(1, 1 << 20, sink);
                    pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
                    return pusher.close(Duration.ofSeconds(30));
                })
                .expectSubscription()
                .thenAwait(Duration.ofSeconds(29))
                .expectNoEvent(Duration.ofMillis(1))
                .thenAwait(Duration.ofSeconds(2))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("did not drain within PT30S"))
                .verify(WAIT);
        assertThat(acks).isEmpty();
    }

    @Test
    void abortCancelsTheWriteUnderWayAndAcksNothingFurther() {
        AtomicBoolean cancelled = new AtomicBoolean();
        ScriptedSink sink = new ScriptedSink().behaviour(c -> Mono.<Void>never().doOnCancel(() -> cancelled.set(true)));
        ParseQueuePusher pusher = pusher(1, 1 << 20, sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        await().until(() -> sink.started.size() == 1);
        pusher.abort();
        assertThat(cancelled).isTrue();
        StepVerifier.create(pusher.whenTerminated()).expectError(PusherClosedException.class).verify(WAIT);
        assertThat(acks).isEmpty();
    }

    @Test
    void observableGaugesCountersAndTimers() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        pusher.push(TestChunks.sized("a", 1, 300, 2)).block(WAIT);
        pusher.push(TestChunks.sized("a", 2, 200, 3)).block(WAIT);
        assertThat(registry.get(PipelineMetrics.INFLIGHT_BYTES).tag("pipeline", "test").gauge().value()).isEqualTo(500);
        assertThat(registry.get(PipelineMetrics.INFLIGHT_CHUNKS).gauge().value()).isEqualTo(2);
        assertThat(registry.get(PipelineMetrics.PUSHED_CHUNKS).counter().count()).isEqualTo(2);

        await().until(() -> sink.isHeld("a", 1));
        sink.release("a", 1);
        await().until(() -> sink.isHeld("a", 2));
        assertThat(registry.get(PipelineMetrics.INFLIGHT_BYTES).gauge().value()).isEqualTo(200);
        assertThat(registry.get(PipelineMetrics.ACKED_CHUNKS).counter().count()).isEqualTo(1);
        assertThat(registry.get(PipelineMetrics.ACKED_ITEMS).counter().count()).isEqualTo(2);
        assertThat(registry.get(PipelineMetrics.WRITE_TIME).timer().count()).isEqualTo(1);
        assertThat(registry.get(PipelineMetrics.END_TO_END_TIME).timer().count()).isEqualTo(1);
        sink.release("a", 2);
        pusher.close(WAIT).block(WAIT);
        // A finished pusher keeps its meters (a completed pipeline still shows its figures) until the
        // next pusher of the pipeline replaces them and reports afresh.
        assertThat(registry.get(PipelineMetrics.ACKED_CHUNKS).counter().count()).isEqualTo(2);
        pusher(2, 1 << 20, sink);
        assertThat(registry.get(PipelineMetrics.ACKED_CHUNKS).counter().count()).isZero();
        assertThat(registry.get(PipelineMetrics.INFLIGHT_BYTES).gauge().value()).isZero();
    }

    @Test
    void observableParseTimer() {
        ParseQueuePusher pusher = pusher(2, 1 << 20, new ScriptedSink());
        pusher.push(TestChunks.raw("a", 1, 10, 1, false, () -> { })).block(WAIT);
        await().until(() -> acks.size() == 1);
        assertThat(registry.get(PipelineMetrics.PARSE_TIME).timer().count()).isEqualTo(1);
    }

    private static void pass(CountDownLatch latch) {
        try {
            if (!latch.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("gate not opened");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ group commit (guarantee 8)

    @Test
    void groupCommitCoalescesTheChunksWaitingBehindAWriteIntoOneBatchInPushOrder() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        pusher.push(TestChunks.items("a", 1, 2, false)).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        // While a@1 is being written, five chunks of two origins queue up behind it.
        List<Chunk> waiting = List.of(TestChunks.items("a", 2, 1, false), TestChunks.items("b", 1, 3, false),
                TestChunks.items("a", 3, 2, false), TestChunks.items("b", 2, 1, true), TestChunks.items("a", 4, 1, false));
        Flux.fromIterable(waiting).concatMap(pusher::push).blockLast(WAIT);
        sink.release("a", 1);
        for (Chunk c : waiting) {
            await().until(() -> sink.isHeld(c.origin(), c.offset().value()));
            assertThat(acks).hasSize(1); // nothing of the batch is acknowledged before all of it is durable
            sink.release(c.origin(), c.offset().value());
        }
        pusher.close(WAIT).block(WAIT);
        assertThat(sink.batches).hasSize(2);
        assertThat(offsets(sink.batches.get(0))).containsExactly("a@1");
        assertThat(offsets(sink.batches.get(1))).containsExactlyElementsOf(offsets(waiting));
        // every chunk is acknowledged, in push order
        assertThat(acks.stream().map(a -> a.origin() + "@" + a.offset()).toList())
                .containsExactly("a@1", "a@2", "b@1", "a@3", "b@2", "a@4");
        assertThat(pusher.progress().get("b").done()).isTrue();
    }

    @Test
    void groupCommitKeepsABatchWithinMaxBatchChunksAndMaxBatchBytes() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(ParseQueueOptions.builder().parallelism(1).inFlightLimitBytes(1 << 20)
                .maxBatchChunks(3).maxBatchBytes(250).maxWritesInFlight(1).build(), sink);
        pusher.push(TestChunks.sized("a", 1, 100, 1)).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        for (int i = 2; i <= 9; i++) {
            pusher.push(TestChunks.sized("a", i, i <= 5 ? 50 : 100, 1)).block(WAIT);
        }
        for (int i = 1; i <= 9; i++) {
            int offset = i;
            await().until(() -> sink.isHeld("a", offset));
            sink.release("a", offset);
        }
        pusher.close(WAIT).block(WAIT);
        // 3 chunks at most (a@2..a@4, 150 bytes); a@5..a@7 make 250 bytes; a@8 + a@9 (200 bytes)
        assertThat(sink.batches.stream().map(ParseQueuePusherTest::offsets).toList()).containsExactly(
                List.of("a@1"), List.of("a@2", "a@3", "a@4"), List.of("a@5", "a@6", "a@7"), List.of("a@8", "a@9"));
        assertThat(acks).hasSize(9);
    }

    @Test
    void groupCommitABatchThatFailsAcknowledgesNoneOfItsChunks() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        pusher.push(TestChunks.items("a", 2, 1, false)).block(WAIT);
        pusher.push(TestChunks.items("a", 3, 1, false)).block(WAIT);
        sink.release("a", 1);
        await().until(() -> sink.isHeld("a", 2));
        sink.release("a", 2);
        await().until(() -> sink.isHeld("a", 3));
        sink.failHeld("a", 3, new IllegalStateException("boom"));
        StepVerifier.create(pusher.whenTerminated())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("origin a, offset 3"))
                .verify(WAIT);
        // a@2 was written, but its batch was not: it is not acknowledged, so a restart writes it again
        assertThat(acks.stream().map(a -> a.origin() + "@" + a.offset()).toList()).containsExactly("a@1");
    }

    @Test
    void overlappedWritesOnlyWhereEverySinkAllowsAndAcksStayInPushOrder() {
        ScriptedSink commuting = new ScriptedSink("commuting").commuting(2).hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, commuting);
        assertThat(pusher.maxWritesInFlight()).isEqualTo(2);
        pusher.push(TestChunks.items("a", 1, 1, false)).block(WAIT);
        pusher.push(TestChunks.items("a", 2, 1, false)).block(WAIT);
        // both writes are under way at once; the second completes first
        await().until(() -> commuting.isHeld("a", 1) && commuting.isHeld("a", 2));
        commuting.release("a", 2);
        await().until(() -> commuting.written.size() == 1);
        assertThat(acks).isEmpty(); // a@2 is durable, but a@1 is not: nothing is acknowledged yet
        commuting.release("a", 1);
        await().until(() -> acks.size() == 2);
        assertThat(acks.stream().map(a -> a.offset().value()).toList()).containsExactly(1L, 2L);
        assertThat(acks.get(1).committable().value()).isEqualTo(2);

        ScriptedSink ordered = new ScriptedSink("ordered");
        assertThat(pusher(2, 1 << 20, new ScriptedSink("c").commuting(4), ordered).maxWritesInFlight()).isEqualTo(1);
    }

    @Test
    void hardMemoryBoundChargesAChunkItsParsedSizeOnceParsed() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 10_000, sink);
        // 100 raw bytes that parse into items of 4,000 bytes: the charge follows what is in memory
        Chunk grows = TestChunks.rawOfItemSize("a", 1, 100, 4, 1000);
        pusher.push(grows).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        assertThat(pusher.inFlightBytes()).isEqualTo(4000);
        // a raw chunk of 200 bytes is charged 40 times its size (the ratio seen so far): it does not fit
        Chunk next = Chunk.raw("a", Offset.of(2), 200, () -> List.of(), false);
        Disposable waiting = pusher.push(next).subscribe();
        assertThat(pusher.waitingPushes()).isEqualTo(1);
        assertThat(pusher.inFlightBytes()).isEqualTo(4000);
        sink.release("a", 1);
        await().until(() -> acks.size() == 2);
        assertThat(pusher.inFlightBytes()).isZero();
        waiting.dispose();
    }

    private static ParseQueueOptions.Builder minBatch(long bytes, Duration linger) {
        return ParseQueueOptions.builder().parallelism(1).inFlightLimitBytes(1 << 20).maxWritesInFlight(1)
                .minBatchBytes(bytes).batchLinger(linger);
    }

    @Test
    void groupCommitABatchBelowMinBatchWaitsForTheChunksBeingParsed() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(minBatch(1000, Duration.ofMinutes(1)).parallelism(2).build(), sink);
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        pusher.push(TestChunks.raw("a", 1, 300, 1, false, () -> pass(first))).block(WAIT);
        pusher.push(TestChunks.raw("a", 2, 300, 1, false, () -> pass(gate))).block(WAIT);
        pusher.push(TestChunks.raw("a", 3, 500, 1, false, () -> { })).block(WAIT);
        first.countDown();
        // a@1 is parsed, but a@2 is being parsed: with it the batch would reach 1,000 bytes
        await().during(Duration.ofMillis(300)).atMost(WAIT).until(sink.batches::isEmpty);
        gate.countDown();
        await().until(() -> acks.size() == 3);
        assertThat(sink.batches.stream().map(ParseQueuePusherTest::offsets).toList())
                .containsExactly(List.of("a@1", "a@2", "a@3"));
    }

    @Test
    void groupCommitABatchBelowMinBatchIsWrittenAfterTheLinger() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(minBatch(1000, Duration.ofMillis(50)).parallelism(2).build(), sink);
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        pusher.push(TestChunks.raw("a", 1, 300, 1, false, () -> pass(first))).block(WAIT);
        pusher.push(TestChunks.raw("a", 2, 300, 1, false, () -> pass(gate))).block(WAIT);
        long parsed = System.nanoTime();
        first.countDown();
        // a@2's parse does not end: a@1 waits 50 ms for it, then is written alone
        await().until(() -> acks.size() == 1);
        assertThat(System.nanoTime() - parsed).isGreaterThanOrEqualTo(Duration.ofMillis(50).toNanos());
        assertThat(offsets(sink.batches.get(0))).containsExactly("a@1");
        gate.countDown();
        await().until(() -> acks.size() == 2);
    }

    @Test
    void groupCommitABatchBelowMinBatchIsWrittenAtOnceWhenAPushWaitsForRoomOrItEndsItsOrigin() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(minBatch(10_000, Duration.ofMinutes(1)).inFlightLimitBytes(1000).build(), sink);
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        // raw chunks are charged 4.4 times their size until a parse shows what they become: 440 + 440
        pusher.push(TestChunks.raw("a", 1, 100, 1, false, () -> pass(first))).block(WAIT);
        pusher.push(TestChunks.raw("a", 2, 100, 1, false, () -> pass(gate))).block(WAIT);
        first.countDown();
        await().until(() -> pusher.inFlightBytes() < 600); // a@1 parsed: charged 100
        await().during(Duration.ofMillis(200)).atMost(WAIT).until(sink.batches::isEmpty);
        // a push that does not fit: a@1 is written to make room, without waiting for a@2
        Disposable waiting = pusher.push(TestChunks.sized("a", 3, 500, 1)).subscribe();
        await().until(() -> acks.size() == 1);
        assertThat(offsets(sink.batches.get(0))).containsExactly("a@1");
        gate.countDown();
        await().until(() -> acks.size() == 3);
        assertThat(offsets(sink.batches.get(1))).containsExactly("a@2", "a@3");

        // a chunk that ends its origin does not wait for the chunk being parsed behind it
        CountDownLatch ends = new CountDownLatch(1);
        CountDownLatch behind = new CountDownLatch(1);
        pusher.push(TestChunks.raw("b", 1, 100, 1, true, () -> pass(ends))).block(WAIT);
        pusher.push(TestChunks.raw("c", 1, 100, 1, false, () -> pass(behind))).block(WAIT);
        ends.countDown();
        await().until(() -> acks.size() == 4);
        assertThat(offsets(sink.batches.get(2))).containsExactly("b@1");
        behind.countDown();
        pusher.close(WAIT).block(WAIT);
        assertThat(acks).hasSize(5);
        waiting.dispose();
    }

    @Test
    void hardMemoryBoundRawChunksAdmittedAndNotParsedAreAtMostTwoPerParseThread() {
        ScriptedSink sink = new ScriptedSink();
        ParseQueuePusher pusher = pusher(1, 1 << 20, sink);
        CountDownLatch gate = new CountDownLatch(1);
        List<Disposable> pushes = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            pushes.add(pusher.push(TestChunks.raw("a", i, 100, 1, false, () -> pass(gate))).subscribe());
        }
        // one parse thread: a@1 in its parse, a@2 queued for it, a@3 and a@4 wait although memory is free
        assertThat(pusher.waitingPushes()).isEqualTo(2);
        assertThat(pusher.inFlightChunks()).isEqualTo(2);
        gate.countDown();
        await().until(() -> acks.size() == 4);
        pushes.forEach(Disposable::dispose);
    }

    @Test
    void hardMemoryBoundARawChunkIsChargedAtLeastItsRawSizeUntilParsed() {
        ScriptedSink sink = new ScriptedSink().hold();
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        // 1,000 raw bytes that become 100 bytes of items: a raw byte becomes 0.1 byte
        Chunk shrinks = TestChunks.rawOfItemSize("a", 1, 1000, 1, 100);
        pusher.push(shrinks).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        assertThat(pusher.inFlightBytes()).isEqualTo(100);
        CountDownLatch gate = new CountDownLatch(1);
        pusher.push(TestChunks.raw("a", 2, 1000, 1, false, () -> pass(gate))).block(WAIT);
        // not 110 bytes (1,000 times 0.1, plus the margin): until it is parsed, a raw chunk holds its bytes
        assertThat(pusher.inFlightBytes()).isEqualTo(100 + 1000);
        gate.countDown();
        sink.release("a", 1);
        await().until(() -> sink.isHeld("a", 2));
        sink.release("a", 2);
        await().until(() -> acks.size() == 2);
    }

    @Test
    void preparedChunksAreChargedWhatTheSinkMadeOfThemAndAcknowledgedWithTheirItemCount() {
        ScriptedSink sink = new ScriptedSink().hold().preparing(c -> c.prepared("encoded " + c.itemCount(), 10));
        ParseQueuePusher pusher = pusher(2, 1 << 20, sink);
        pusher.push(TestChunks.raw("a", 1, 1000, 4, false, () -> { })).block(WAIT);
        await().until(() -> sink.isHeld("a", 1));
        // prepared on the parse thread: the chunk holds its prepared form, charged 10 bytes
        assertThat(pusher.inFlightBytes()).isEqualTo(10);
        Chunk written = sink.batches.get(0).get(0);
        assertThat(written.prepared()).isEqualTo("encoded 4");
        assertThat(written.items()).isEmpty();
        assertThat(written.itemCount()).isEqualTo(4);
        sink.release("a", 1);
        await().until(() -> acks.size() == 1);
        assertThat(acks.get(0).items()).isEqualTo(4);
    }

    @Test
    void preparedOnlyForAPipelineOfOneSink() {
        ScriptedSink first = new ScriptedSink("first").preparing(c -> c.prepared("first", 1));
        ScriptedSink second = new ScriptedSink("second").preparing(c -> c.prepared("second", 1));
        ParseQueuePusher pusher = pusher(2, 1 << 20, first, second);
        pusher.push(TestChunks.raw("a", 1, 1000, 4, true, () -> { })).block(WAIT);
        pusher.close(WAIT).block(WAIT);
        assertThat(first.written.get(0).items()).hasSize(4);
        assertThat(second.written.get(0).items()).hasSize(4);
    }
}
