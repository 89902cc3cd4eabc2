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
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.test.scheduler.VirtualTimeScheduler;

class ReplicationServiceTest {

    private static ReplicationService service(Path dir, String restart, String sink) {
        return service(dir, restart, sink, Schedulers.parallel());
    }

    private static ReplicationService service(Path dir, String restart, String sink, Scheduler scheduler) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                checkpoints:
                  directory: %s
                health:
                  stallTimeout: 5m
                restart:
                  %s
                pipelines:
                  - name: one
                    source: {type: counting, count: 500, chunkSize: 50}
                    pusher: {kind: sync}
                    sinks: [%s]
                """.formatted(dir.resolve("checkpoints"), restart, sink));
        return new ReplicationService(config, new Components(config, dir, new SimpleMeterRegistry(),
                ReplicationServiceTest.class.getClassLoader()), new SimpleMeterRegistry(), scheduler);
    }

    @Test
    void aPipelineFailedForGoodIsReportedInTheStatusAndInReadiness(@TempDir Path dir) {
        ReplicationService service = service(dir, "{minBackoff: 1ms, maxBackoff: 1ms, maxPermanentFailures: 1}",
                "{type: memory, id: %s, failures: 1000}".formatted(UUID.randomUUID()));
        service.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> service.supervisor("one").state() == PipelineSupervisor.State.FAILED);
        Map<String, Object> status = service.status().block().get(0);
        assertThat(status.get("state")).isEqualTo("FAILED");
        assertThat(status.get("restarts")).isEqualTo(1L);
        assertThat((String) status.get("lastError")).contains("injected failure");
        assertThat(service.notReady().block()).containsOnlyKeys("pipeline one")
                .extractingByKey("pipeline one").asString().startsWith("failed: ").contains("injected failure");
        assertThat(service.stop().block()).isTrue();
    }

    @Test
    void aRunningPipelineWhoseAcknowledgementsDoNotMoveWhileDataIsPendingIsNotReady(@TempDir Path dir) {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        ReplicationService service = service(dir, "{minBackoff: 1s}", "{type: memory, id: stalled, hang: true}", time);
        service.start();
        PipelineSupervisor one = service.supervisor("one");
        await().atMost(Duration.ofSeconds(20)).until(() -> one.snapshot().status() != null
                && one.snapshot().status().inFlightChunks() > 0);
        assertThat(service.notReady().block()).isEmpty();
        time.advanceTimeBy(Duration.ofMinutes(5).minusMillis(1));
        assertThat(service.notReady().block()).isEmpty();
        time.advanceTimeBy(Duration.ofMillis(1));
        assertThat(service.notReady().block()).containsOnlyKeys("pipeline one")
                .extractingByKey("pipeline one").asString().startsWith("stalled: nothing acknowledged for 300 s");
        assertThat(one.state()).isEqualTo(PipelineSupervisor.State.RUNNING);
        one.abort();
    }

    @Test
    void anIdleOrProgressingPipelineIsReady(@TempDir Path dir) {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        ReplicationService service = service(dir, "{minBackoff: 1s}", "{type: memory, id: %s}".formatted(UUID.randomUUID()), time);
        service.start();
        PipelineSupervisor one = service.supervisor("one");
        await().atMost(Duration.ofSeconds(20)).until(() -> one.state() == PipelineSupervisor.State.COMPLETED);
        time.advanceTimeBy(Duration.ofHours(1));
        assertThat(service.notReady().block()).isEmpty();
        // nothing pending: never stalled, however long it has been
        assertThat(one.stalledFor(false)).isZero();
    }
}
