package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import reactor.core.publisher.Mono;

/**
 * Child process of {@link OplogFileSourceCrashIntegrationTest}: follows a JSON Lines log with the
 * parse-queue pusher into a sink that appends {@code n:version:n} per item to a results file and forces
 * it to disk before its write completes. Runs until killed.
 *
 * <p>Arguments: log file, checkpoint directory, results file.
 */
public final class ReplicatorMain {

    private ReplicatorMain() {
    }

    public static void main(String[] args) throws IOException {
        Path log = Path.of(args[0]);
        FileChannel results = FileChannel.open(Path.of(args[2]), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
        // A killed predecessor may have left half a line: start on a fresh one and mark the run.
        write(results, "\nrun " + ProcessHandle.current().pid() + "\n");
        Sink sink = new Sink() {
            @Override
            public String name() {
                return "results-file";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.fromRunnable(() -> {
                    StringBuilder b = new StringBuilder();
                    for (ChangeItem item : chunk.items()) {
                        Object n = item.values().get("n");
                        b.append(n).append(':').append(item.version()).append(':').append(n).append('\n');
                    }
                    ReplicatorMain.write(results, b.toString());
                });
            }
        };
        OplogFileSource source = OplogFileSource.create(OplogFileOptions.builder(log)
                        .format(OplogFileOptions.Format.JSON_LINES)
                        .chunkMaxBytes(2048)
                        .pollInterval(Duration.ofMillis(20))
                        .build(),
                FileCheckpointStore.open(Path.of(args[1])), new SimpleMeterRegistry());
        Pipeline.builder("crash").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).inFlightLimitBytes(16 << 10).build()))
                .build()
                .run()
                .block();
    }

    static void write(FileChannel channel, String text) {
        try {
            ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            channel.force(false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
