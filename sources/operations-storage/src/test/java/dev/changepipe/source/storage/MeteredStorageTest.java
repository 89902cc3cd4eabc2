package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class MeteredStorageTest {

    private static final Duration T = Duration.ofSeconds(5);

    @Test
    void observableQueueSizeRegistrationCounterAndLatency() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        OperationsStorage s = OperationsStorage.metered(InMemoryStorage.create(StorageOptions.defaults()), registry);
        s.registerOperations("app.a", Operation.Type.INSERT, "1", "2", "3").block(T);
        s.registerOperations("app.a", Operation.Type.UPDATE, "default", List.of("3")).block(T);
        s.registerOperations("app.b", Operation.Type.DELETE, "9").block(T);

        assertThat(registry.get(StorageMetrics.QUEUE_SIZE).tag(StorageMetrics.TAG_IMPORT_KEY, "app.a").gauge().value())
                .isEqualTo(4);
        assertThat(registry.get(StorageMetrics.REGISTERED).tags(StorageMetrics.TAG_IMPORT_KEY, "app.a",
                StorageMetrics.TAG_TYPE, "insert").counter().count()).isEqualTo(3);
        assertThat(registry.get(StorageMetrics.REGISTRATION_TIME).tag(StorageMetrics.TAG_IMPORT_KEY, "app.a")
                .timer().count()).isEqualTo(2);

        SyncLease lease = s.preSync("app.a").block(T);
        s.postSync(s.getOperations(lease, 2).block(T)).block(T);
        assertThat(registry.get(StorageMetrics.QUEUE_SIZE).tag(StorageMetrics.TAG_IMPORT_KEY, "app.a").gauge().value())
                .isEqualTo(2);
        assertThat(registry.get(StorageMetrics.QUEUE_SIZE).tag(StorageMetrics.TAG_IMPORT_KEY, "app.b").gauge().value())
                .isEqualTo(1);
    }
}
