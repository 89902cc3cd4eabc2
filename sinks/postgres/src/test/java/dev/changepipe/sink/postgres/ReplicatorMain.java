package dev.changepipe.sink.postgres;

import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.source.oplog.OplogFileOptions;
import dev.changepipe.source.oplog.OplogFileSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Child process of {@link DjangoLogReplicationIntegrationTest}: applies a Django operation log to a
 * PostgreSQL database (snapshot mode, small chunks, the parse-queue pusher) and exits once the log is
 * applied, unless killed first.
 *
 * <p>Arguments: log file, checkpoint directory, R2DBC URL of the target.
 */
public final class ReplicatorMain {

    private ReplicatorMain() {
    }

    public static void main(String[] args) {
        Pipeline pipeline = DjangoLogReplicationIntegrationTest.pipeline(Path.of(args[0]), Path.of(args[1]), args[2]);
        pipeline.run().block(Duration.ofMinutes(5));
        System.exit(0);
    }

    static Pipeline build(Path log, Path checkpoints, PostgresSink sink) {
        OplogFileSource source = OplogFileSource.create(OplogFileOptions.builder(log)
                        .mode(OplogFileOptions.Mode.SNAPSHOT)
                        .chunkMaxBytes(2048)
                        .build(),
                FileCheckpointStore.open(checkpoints), new SimpleMeterRegistry());
        return Pipeline.builder("django").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).inFlightLimitBytes(16 << 10)
                        .build()))
                .build();
    }
}
