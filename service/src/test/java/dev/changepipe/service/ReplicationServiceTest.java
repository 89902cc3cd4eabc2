package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
        PipelineReport status = service.status().block().get(0);
        assertThat(status.state()).isEqualTo(PipelineSupervisor.State.FAILED);
        assertThat(status.restarts()).isEqualTo(1L);
        assertThat(status.lastError()).contains("injected failure");
        // times as ISO-8601 text, as Instant.toString() writes them
        assertThat(AdminServer.JSON.valueToTree(status).get("lastErrorAt").asText()).isEqualTo(status.lastErrorAt().toString());
        assertThat(AdminServer.JSON.valueToTree(status).get("state").asText()).isEqualTo("FAILED");
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

    /**
     * The JSON of {@code /api/pipelines} and {@code /api/offsets} as docs/service.md ("HTTP") lists it,
     * the dashboard and the {@code status} and {@code offsets} commands read it: field names, their
     * order and the kinds of their values.
     */
    @Test
    void theStatusIsTheDocumentedJson(@TempDir Path dir) {
        ReplicationService service = service(dir, "{minBackoff: 1s}", "{type: memory, id: %s}".formatted(UUID.randomUUID()));
        service.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> service.supervisor("one").state() == PipelineSupervisor.State.COMPLETED);

        JsonNode pipeline = AdminServer.JSON.valueToTree(service.status().block()).get(0);
        assertThat(fields(pipeline)).containsExactly("name", "state", "runState", "source", "sinks", "inFlightBytes",
                "inFlightChunks", "itemsWritten", "lagBytes", "sourceParts", "deadLetters", "deadLettersByCause", "restarts", "lastError",
                "lastErrorAt", "nextRunAt", "origins", "offsets");
        assertThat(pipeline.get("name").asText()).isEqualTo("one");
        assertThat(pipeline.get("state").asText()).isEqualTo("COMPLETED");
        assertThat(pipeline.get("runState").asText()).isEqualTo("COMPLETED");
        assertThat(pipeline.get("sinks").isArray()).isTrue();
        assertThat(pipeline.get("inFlightBytes").isIntegralNumber()).isTrue();
        assertThat(pipeline.get("itemsWritten").isIntegralNumber()).isTrue();
        assertThat(pipeline.get("sourceParts").isObject()).isTrue();
        assertThat(pipeline.get("deadLetters").isDouble()).isTrue();
        assertThat(pipeline.get("deadLettersByCause").isObject()).isTrue();
        assertThat(pipeline.get("restarts").asLong()).isZero();
        assertThat(pipeline.get("lastError").isNull()).isTrue();
        assertThat(pipeline.get("lastErrorAt").isNull()).isTrue();
        assertThat(pipeline.get("nextRunAt").isNull()).isTrue();

        JsonNode origin = pipeline.get("origins").get(0);
        assertThat(fields(origin)).containsExactly("origin", "committable", "committableAt", "lastPushed", "inFlightChunks",
                "inFlightBytes", "ackedChunks", "done");
        assertThat(origin.get("committable").isIntegralNumber()).isTrue();
        assertThat(origin.get("committableAt").isTextual()).isTrue();
        assertThat(origin.get("done").asBoolean()).isTrue();

        JsonNode offset = pipeline.get("offsets").get(0);
        assertThat(fields(offset)).containsExactly("origin", "offset", "position", "attributes");
        assertThat(offset.get("offset").isIntegralNumber()).isTrue();
        assertThat(offset.get("position").isTextual()).isTrue();
        assertThat(offset.get("attributes").isObject()).isTrue();

        JsonNode offsets = AdminServer.JSON.valueToTree(service.offsets().block());
        assertThat(fields(offsets)).containsExactly("one");
        assertThat(offsets.get("one")).isEqualTo(pipeline.get("offsets"));
    }

    private static List<String> fields(JsonNode object) {
        List<String> names = new java.util.ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
