package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.PusherFactory;
import dev.changepipe.core.Source;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.test.StepVerifier;

/** The Pipeline engine (pipeline-core) wired with real pushers. */
class PipelineTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    static Stream<Arguments> pushers() {
        return Stream.of(
                Arguments.of("sync", SyncPusher.factory()),
                Arguments.of("parse-queue", ParseQueuePusher.factory(
                        ParseQueueOptions.builder().parallelism(2).inFlightLimitBytes(5_000).build())));
    }

    /** A source over a publisher of chunks that records what it was asked to acknowledge. */
    static final class TestSource implements Source {
        final Flux<Chunk> chunks;
        final List<Ack> acknowledged = new CopyOnWriteArrayList<>();
        final AtomicBoolean closed = new AtomicBoolean();
        Function<Ack, Mono<Void>> onAck = ack -> Mono.empty();

        TestSource(Flux<Chunk> chunks) {
            this.chunks = chunks;
        }

        @Override
        public String name() {
            return "test";
        }

        @Override
        public Flux<Chunk> read() {
            return chunks;
        }

        @Override
        public Mono<Void> acknowledge(Ack ack) {
            return onAck.apply(ack).doOnSuccess(v -> acknowledged.add(ack));
        }

        @Override
        public Mono<Void> acknowledgeAll(List<Ack> acks) {
            calls.add(acks.size());
            return Source.super.acknowledgeAll(acks);
        }

        /** The size of every {@link #acknowledgeAll} call, in order. */
        final List<Integer> calls = new CopyOnWriteArrayList<>();

        @Override
        public Mono<Void> close() {
            return Mono.fromRunnable(() -> closed.set(true));
        }
    }

    private static Flux<Chunk> chunks(int n) {
        return Flux.range(1, n).map(i -> TestChunks.raw("file-" + (i % 3), i, 500, 2, i > n - 3, () -> { }));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("pushers")
    void aBoundedSourceRunsToCompletionAndEveryChunkIsAcknowledgedInPushOrder(String kind, PusherFactory factory) {
        TestSource source = new TestSource(chunks(100));
        ScriptedSink sink = new ScriptedSink().behaviour(c -> Mono.delay(Duration.ofMillis(1)).then());
        Pipeline pipeline = Pipeline.builder("p-" + kind).source(source).sink(sink).pusher(factory)
                .meterRegistry(new SimpleMeterRegistry()).build();

        pipeline.run().block(WAIT);

        assertThat(source.acknowledged).extracting(a -> a.offset().value())
                .containsExactlyElementsOf(Flux.range(1, 100).map(Long::valueOf).collectList().block());
        assertThat(sink.written).hasSize(100);
        assertThat(source.closed).isTrue();
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.COMPLETED);
        assertThat(pipeline.status().origins().values()).allSatisfy(p -> assertThat(p.done()).isTrue());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("pushers")
    void stopDrainsWhatWasAdmittedAndRecordsItsAcks(String kind, PusherFactory factory) {
        Sinks.Many<Chunk> feed = Sinks.many().unicast().onBackpressureBuffer();
        TestSource source = new TestSource(feed.asFlux());
        ScriptedSink sink = new ScriptedSink();
        Pipeline pipeline = Pipeline.builder("p-" + kind).source(source).sink(sink).pusher(factory)
                .meterRegistry(new SimpleMeterRegistry()).build();
        Mono<Void> run = pipeline.run().cache();
        run.subscribe(v -> { }, e -> { });
        for (int i = 1; i <= 10; i++) {
            feed.tryEmitNext(TestChunks.items("a", i, 1, false));
        }
        await().until(() -> source.acknowledged.size() == 10);
        pipeline.stop();
        run.block(WAIT);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.STOPPED);
        assertThat(source.acknowledged).hasSize(10);
        assertThat(source.closed).isTrue();
    }

    @Test
    void theAcksOfABatchAreHandedToTheSourceTogetherInPushOrder() {
        Sinks.Many<Chunk> feed = Sinks.many().unicast().onBackpressureBuffer();
        TestSource source = new TestSource(feed.asFlux());
        ScriptedSink sink = new ScriptedSink().hold();
        Pipeline pipeline = Pipeline.builder("batch").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build()))
                .meterRegistry(new SimpleMeterRegistry()).build();
        Mono<Void> run = pipeline.run().cache();
        run.subscribe(v -> { }, e -> { });
        feed.tryEmitNext(TestChunks.items("a", 1, 1, false));
        await().until(() -> sink.isHeld("a", 1));
        // five chunks wait behind the write of a@1: one batch, whose five acks come together
        for (int i = 2; i <= 6; i++) {
            feed.tryEmitNext(TestChunks.items(i % 2 == 0 ? "a" : "b", i, 1, false));
        }
        await().until(() -> pipeline.status().inFlightChunks() == 6);
        // recording a@1 takes until the batch behind it is acknowledged too: its five acks queue up
        Sinks.Empty<Void> recordingA1 = Sinks.empty();
        source.onAck = ack -> ack.offset().value() == 1 ? recordingA1.asMono() : Mono.empty();
        sink.release("a", 1);
        for (int i = 2; i <= 6; i++) {
            String origin = i % 2 == 0 ? "a" : "b";
            int offset = i;
            await().until(() -> sink.isHeld(origin, offset));
            sink.release(origin, offset);
        }
        await().until(() -> pipeline.status().inFlightChunks() == 0);
        recordingA1.tryEmitEmpty();
        await().until(() -> source.acknowledged.size() == 6);
        assertThat(source.calls).containsExactly(1, 5);
        assertThat(source.acknowledged).extracting(a -> a.offset().value()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
        pipeline.stop();
        run.block(WAIT);
    }

    @Test
    void aCompletedSourceDrainsPastTheDrainTimeoutWhileWritesMakeProgress() {
        // Every chunk is admitted at once, so the source completes while 6 writes of 300 ms each (1.8 s
        // in all) are still to come: far more than the drain timeout, but each ack comes well within it.
        TestSource source = new TestSource(Flux.range(1, 6).map(i -> TestChunks.items("snapshot", i, 1, i == 6)));
        ScriptedSink sink = new ScriptedSink().behaviour(c -> Mono.delay(Duration.ofMillis(300)).then());
        // one chunk per write (no group commit), so that an ack follows every 300 ms write
        Pipeline pipeline = Pipeline.builder("snapshot").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).maxBatchChunks(1).build()))
                .drainTimeout(Duration.ofMillis(700))
                .meterRegistry(new SimpleMeterRegistry()).build();

        pipeline.run().block(WAIT);

        assertThat(source.acknowledged).extracting(a -> a.offset().value()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.COMPLETED);
    }

    @Test
    void aCompletedSourceWhoseDrainMakesNoProgressForTheDrainTimeoutFailsNamingIt() {
        TestSource source = new TestSource(Flux.range(1, 3).map(i -> TestChunks.items("snapshot", i, 1, i == 3)));
        ScriptedSink sink = new ScriptedSink().behaviour(c -> c.offset().value() == 2 ? Mono.never() : Mono.empty());
        Pipeline pipeline = Pipeline.builder("snapshot").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build()))
                .drainTimeout(Duration.ofMillis(300))
                .meterRegistry(new SimpleMeterRegistry()).build();

        StepVerifier.create(pipeline.run())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("pipeline snapshot")
                        .hasMessageContaining("made no progress for PT0.3S"))
                .verify(WAIT);
        assertThat(source.acknowledged).extracting(a -> a.offset().value()).containsExactly(1L);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.FAILED);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("pushers")
    void firstErrorWinsASinkErrorFailsTheRunAndNothingAfterItIsAcknowledged(String kind, PusherFactory factory) {
        TestSource source = new TestSource(chunks(50));
        ScriptedSink sink = new ScriptedSink().behaviour(c -> c.offset().value() == 20
                ? Mono.error(new IllegalStateException("table gone")) : Mono.empty());
        Pipeline pipeline = Pipeline.builder("p-" + kind).source(source).sink(sink).pusher(factory)
                .meterRegistry(new SimpleMeterRegistry()).build();

        StepVerifier.create(pipeline.run())
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("table gone")
                        .hasMessageContaining("offset 20"))
                .verify(WAIT);
        assertThat(source.acknowledged).extracting(a -> a.offset().value()).allMatch(o -> o < 20);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.FAILED);
        assertThat(pipeline.status().lastError()).contains("table gone");
        assertThat(source.closed).isTrue();
    }

    @Test
    void theAcksHandedOverBeforeAFailureAreStillRecorded() {
        TestSource source = new TestSource(chunks(10));
        // recording is slower than writing: the failure comes while the first acks are being recorded
        source.onAck = ack -> Mono.delay(Duration.ofMillis(200)).then();
        ScriptedSink sink = new ScriptedSink().behaviour(c -> c.offset().value() == 3
                ? Mono.error(new IllegalStateException("table gone")) : Mono.empty());
        // the sync pusher writes one chunk at a time: the acks of chunks 1 and 2 are handed over before 3 fails
        Pipeline pipeline = Pipeline.builder("p").source(source).sink(sink).pusher(SyncPusher.factory())
                .meterRegistry(new SimpleMeterRegistry()).build();

        StepVerifier.create(pipeline.run()).expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("table gone"))
                .verify(WAIT);
        // recorded, not cancelled by the failure: a restart does not write those chunks again
        assertThat(source.acknowledged).extracting(a -> a.offset().value()).containsExactly(1L, 2L);
    }

    @Test
    void firstErrorWinsAFailedAcknowledgementFailsTheRun() {
        TestSource source = new TestSource(chunks(30));
        source.onAck = ack -> ack.offset().value() == 5
                ? Mono.error(new IllegalStateException("checkpoint not writable")) : Mono.empty();
        Pipeline pipeline = Pipeline.builder("p").source(source).sink(new ScriptedSink())
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.defaults()))
                .meterRegistry(new SimpleMeterRegistry()).build();
        StepVerifier.create(pipeline.run()).expectErrorMessage("checkpoint not writable").verify(WAIT);
        assertThat(source.acknowledged).extracting(Ack::offset).containsExactly(
                Offset.of(1), Offset.of(2), Offset.of(3), Offset.of(4));
    }

    @Test
    void aSecondConcurrentRunIsRefusedAndAFailedPipelineCanRunAgain() {
        Sinks.Many<Chunk> feed = Sinks.many().multicast().onBackpressureBuffer();
        TestSource source = new TestSource(feed.asFlux());
        Pipeline pipeline = Pipeline.builder("p").source(source).sink(new ScriptedSink())
                .pusher(SyncPusher.factory()).meterRegistry(new SimpleMeterRegistry()).build();
        Mono<Void> run = pipeline.run().cache();
        run.subscribe(v -> { }, e -> { });
        StepVerifier.create(pipeline.run()).expectError(IllegalStateException.class).verify(WAIT);
        feed.tryEmitError(new IllegalStateException("source broke"));
        StepVerifier.create(run).expectErrorMessage("source broke").verify(WAIT);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.FAILED);

        Pipeline again = Pipeline.builder("p").source(new TestSource(chunks(3))).sink(new ScriptedSink())
                .pusher(SyncPusher.factory()).meterRegistry(new SimpleMeterRegistry()).build();
        again.run().block(WAIT);
        assertThat(again.status().state()).isEqualTo(Pipeline.State.COMPLETED);
    }

    @Test
    void builderNamesWhatIsMissing() {
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() -> Pipeline.builder("orders").build()))
                .hasMessage("pipeline orders: source is required");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() ->
                Pipeline.builder("orders").source(new TestSource(Flux.empty())).build()))
                .hasMessage("pipeline orders: at least one sink is required");
        assertThat(org.assertj.core.api.Assertions.catchThrowable(() ->
                Pipeline.builder("orders").source(new TestSource(Flux.empty())).sink(new ScriptedSink()).build()))
                .hasMessage("pipeline orders: pusher is required");
    }
}
