package dev.changepipe.source.storage;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.SyncPusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import reactor.core.publisher.Mono;

/**
 * A sync worker in its own JVM whose sink never finishes a write: its first round holds the lock of
 * {@link EndToEnd#IMPORT_KEY} (renewing it) until the process is killed. Arguments: redis URI, key
 * prefix, PostgreSQL R2DBC URL, lock timeout in milliseconds. Prints {@code started} once running.
 */
public final class StalledWorkerMain {

    private StalledWorkerMain() {
    }

    public static void main(String[] args) {
        java.io.PrintStream signal = System.out;
        System.setOut(System.err);
        RedisStorage storage = RedisStorage.connect(args[0], StorageOptions.builder().keyPrefix(args[1])
                .lockTimeout(Duration.ofMillis(Long.parseLong(args[3]))).build());
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder(EndToEnd.IMPORT_KEY).build())
                .database("default", StorageSyncSource.pooledDatabase(args[2], 1))
                .build());
        Sink stalled = new Sink() {
            @Override
            public String name() {
                return "stalled";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.never();
            }
        };
        Pipeline pipeline = Pipeline.builder("stalled").source(source).sink(stalled).pusher(SyncPusher.factory())
                .meterRegistry(new SimpleMeterRegistry()).build();
        signal.println("started");
        signal.flush();
        pipeline.run().block();
    }
}
