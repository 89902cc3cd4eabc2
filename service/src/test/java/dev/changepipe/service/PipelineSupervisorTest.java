package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.test.scheduler.VirtualTimeScheduler;

class PipelineSupervisorTest {

    private static ServiceConfig config(Path dir, String steady, String flaky, int failures) {
        return new ConfigLoader(Map.<String, String>of()::get).parse("""
                checkpoints:
                  directory: %s
                restart:
                  minBackoff: 1s
                  maxBackoff: 4s
                pipelines:
                  - name: steady
                    source: {type: counting, count: 500, chunkSize: 50}
                    sinks: [{type: memory, id: %s}]
                  - name: flaky
                    source: {type: counting, count: 500, chunkSize: 50}
                    pusher: {kind: sync}
                    sinks: [{type: memory, id: %s, failures: %d}]
                """.formatted(dir.resolve("checkpoints"), steady, flaky, failures));
    }

    @Test
    void failedPipelineIsRestartedWithBackoffWithoutStoppingTheOthers(@TempDir Path dir) {
        String steadyId = UUID.randomUUID().toString();
        String flakyId = UUID.randomUUID().toString();
        ServiceConfig config = config(dir, steadyId, flakyId, 2);
        Components components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        PipelineSupervisor steady = new PipelineSupervisor(config.pipelines().get(0), components, config.restart(), time);
        PipelineSupervisor flaky = new PipelineSupervisor(config.pipelines().get(1), components, config.restart(), time);
        steady.start();
        flaky.start();

        await().atMost(Duration.ofSeconds(20)).until(() -> flaky.snapshot().restarts() == 1
                && flaky.state() == PipelineSupervisor.State.RESTARTING);
        assertThat(flaky.snapshot().lastError()).contains("injected failure");
        await().atMost(Duration.ofSeconds(20)).until(() -> steady.state() == PipelineSupervisor.State.COMPLETED);
        assertThat(FlakySinkProvider.WRITTEN.get(steadyId)).hasSize(500);

        time.advanceTimeBy(Duration.ofMillis(999));
        assertThat(flaky.state()).isEqualTo(PipelineSupervisor.State.RESTARTING);
        time.advanceTimeBy(Duration.ofMillis(1));
        // the second run fails too; its backoff doubles
        await().atMost(Duration.ofSeconds(20)).until(() -> flaky.snapshot().restarts() == 2
                && flaky.state() == PipelineSupervisor.State.RESTARTING);
        time.advanceTimeBy(Duration.ofMillis(1999));
        assertThat(flaky.state()).isEqualTo(PipelineSupervisor.State.RESTARTING);
        time.advanceTimeBy(Duration.ofMillis(1));
        await().atMost(Duration.ofSeconds(20)).until(() -> flaky.state() == PipelineSupervisor.State.COMPLETED);
        assertThat(FlakySinkProvider.WRITTEN.get(flakyId)).extracting(i -> i.key().get("id"))
                .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, 500).boxed().toList());
        assertThat(flaky.snapshot().restarts()).isEqualTo(2);
    }

    @Test
    void restartBackoffDoublesUpToTheMaximum(@TempDir Path dir) {
        ServiceConfig config = config(dir, "a", "b", 0);
        Components components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        PipelineSupervisor s = new PipelineSupervisor(config.pipelines().get(0), components, config.restart(),
                VirtualTimeScheduler.create());
        assertThat(s.backoff(0)).isEqualTo(Duration.ofSeconds(1));
        assertThat(s.backoff(1)).isEqualTo(Duration.ofSeconds(2));
        assertThat(s.backoff(2)).isEqualTo(Duration.ofSeconds(4));
        assertThat(s.backoff(3)).isEqualTo(Duration.ofSeconds(4));
        assertThat(s.backoff(64)).isEqualTo(Duration.ofSeconds(4));
    }

    @Test
    void stopDrainsAndARestartedRunResumesFromTheCheckpoint(@TempDir Path dir) {
        String id = UUID.randomUUID().toString();
        ServiceConfig config = config(dir, id, "unused", 0);
        Components components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        PipelineSupervisor s = new PipelineSupervisor(config.pipelines().get(0), components, config.restart(),
                VirtualTimeScheduler.create());
        s.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> s.state() == PipelineSupervisor.State.COMPLETED);
        assertThat(s.offsets().block()).singleElement().satisfies(c -> assertThat(c.offset().value()).isEqualTo(500));
        // a new run of a completed, checkpointed source reads nothing again
        s.restartAround(reactor.core.publisher.Mono.empty()).block();
        await().atMost(Duration.ofSeconds(20)).until(() -> s.state() == PipelineSupervisor.State.COMPLETED);
        assertThat(FlakySinkProvider.WRITTEN.get(id)).hasSize(500);
    }

    private static PipelineSupervisor one(Path dir, String sink, int maxPermanentFailures, VirtualTimeScheduler time) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                checkpoints:
                  directory: %s
                restart:
                  minBackoff: 1s
                  maxBackoff: 4s
                  maxPermanentFailures: %d
                pipelines:
                  - name: one
                    source: {type: counting, count: 500, chunkSize: 50}
                    pusher: {kind: sync}
                    sinks: [%s]
                """.formatted(dir.resolve("checkpoints"), maxPermanentFailures, sink));
        Components components = new Components(config, dir, new SimpleMeterRegistry(), PipelineSupervisorTest.class.getClassLoader());
        return new PipelineSupervisor(config.pipelines().get(0), components, config.restart(), time);
    }

    @Test
    void aPermanentErrorIsRestartedABoundedNumberOfTimesThenThePipelineIsFailed(@TempDir Path dir) {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        PipelineSupervisor s = one(dir, "{type: memory, id: %s, failures: 1000}".formatted(UUID.randomUUID()), 2, time);
        s.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> s.state() == PipelineSupervisor.State.RESTARTING);
        time.advanceTimeBy(Duration.ofSeconds(1));
        await().atMost(Duration.ofSeconds(20)).until(() -> s.snapshot().restarts() == 2
                && s.state() == PipelineSupervisor.State.RESTARTING);
        time.advanceTimeBy(Duration.ofSeconds(2));
        await().atMost(Duration.ofSeconds(20)).until(() -> s.state() == PipelineSupervisor.State.FAILED);
        assertThat(s.snapshot().restarts()).isEqualTo(2);
        assertThat(s.snapshot().lastError()).contains("injected failure");
        assertThat(s.snapshot().nextRunAt()).isNull();
        time.advanceTimeBy(Duration.ofMinutes(10));
        assertThat(s.state()).isEqualTo(PipelineSupervisor.State.FAILED);
        assertThat(s.snapshot().restarts()).isEqualTo(2);
        s.stop().block(Duration.ofSeconds(5));
        assertThat(s.state()).isEqualTo(PipelineSupervisor.State.STOPPED);
    }

    @Test
    void aTransientErrorKeepsRestartingWithBackoff(@TempDir Path dir) {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        String id = UUID.randomUUID().toString();
        PipelineSupervisor s = one(dir, "{type: memory, id: %s, failures: 5, retryable: true}".formatted(id), 1, time);
        s.start();
        for (int i = 1; i <= 5; i++) {
            int restarts = i;
            await().atMost(Duration.ofSeconds(20)).until(() -> s.snapshot().restarts() == restarts
                    && s.state() == PipelineSupervisor.State.RESTARTING);
            time.advanceTimeBy(Duration.ofSeconds(4));
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> s.state() == PipelineSupervisor.State.COMPLETED);
        assertThat(FlakySinkProvider.WRITTEN.get(id)).hasSize(500);
    }

    @Test
    void permanentFailuresAreCountedOnlyWhileARunMakesNoProgress(@TempDir Path dir) {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        String id = UUID.randomUUID().toString();
        // every third write fails: each run acknowledges something first, and records it (a failing run
        // still saves the checkpoints of the writes before the failure: else it would start over from the
        // same place and fail at the same write, again and again)
        PipelineSupervisor s = one(dir, "{type: memory, id: %s, failEvery: 3}".formatted(id), 1, time);
        s.start();
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            time.advanceTimeBy(Duration.ofSeconds(4));
            return s.state() == PipelineSupervisor.State.COMPLETED || s.state() == PipelineSupervisor.State.FAILED;
        });
        assertThat(s.state()).isEqualTo(PipelineSupervisor.State.COMPLETED);
        assertThat(s.snapshot().restarts()).isGreaterThan(2);
        assertThat(FlakySinkProvider.WRITTEN.get(id)).extracting(i -> i.key().get("id")).containsAll(
                java.util.stream.LongStream.rangeClosed(1, 500).boxed().toList());
    }
}
