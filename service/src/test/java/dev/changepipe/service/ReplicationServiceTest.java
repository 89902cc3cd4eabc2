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

class ReplicationServiceTest {

    private static ReplicationService service(Path dir, String restart, String sink) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                checkpoints:
                  directory: %s
                restart:
                  %s
                pipelines:
                  - name: one
                    source: {type: counting, count: 500, chunkSize: 50}
                    pusher: {kind: sync}
                    sinks: [%s]
                """.formatted(dir.resolve("checkpoints"), restart, sink));
        return new ReplicationService(config, new Components(config, dir, new SimpleMeterRegistry(),
                ReplicationServiceTest.class.getClassLoader()), new SimpleMeterRegistry());
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
}
