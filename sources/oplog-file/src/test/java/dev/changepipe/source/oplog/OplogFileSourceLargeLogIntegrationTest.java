package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.core.Source;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A 1 GiB log followed with the parse-queue pusher: every line arrives, in order, while the bytes in
 * flight (sampled at every chunk the source emits, every write and every ack) never exceed the
 * in-flight limit (the default one). The test JVM runs with {@code -Xmx256m} (see the pom), a quarter of
 * the log.
 */
class OplogFileSourceLargeLogIntegrationTest {

    private static final long LOG_BYTES = 1L << 30;
    /** The default, which is sized for the 256 MiB heap this test runs in. */
    private static final long IN_FLIGHT_LIMIT = ParseQueueOptions.DEFAULT_IN_FLIGHT_LIMIT_BYTES;

    @TempDir
    Path dir;

    @Test
    void oneGigabyteLogInFollowModeKeepsTheBytesInFlightWithinTheLimit() throws IOException {
        Path log = dir.resolve("big.log");
        long lines = writeLog(log);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        OplogFileSource source = OplogFileSource.create(OplogFileOptions.builder(log)
                .format(OplogFileOptions.Format.JSON_LINES).build(), FileCheckpointStore.open(dir.resolve("cp")), registry);

        AtomicReference<Pipeline> pipelineRef = new AtomicReference<>();
        AtomicLong maxInFlight = new AtomicLong();
        Runnable sample = () -> {
            Pipeline p = pipelineRef.get();
            if (p != null) {
                maxInFlight.accumulateAndGet(p.status().inFlightBytes(), Math::max);
            }
        };
        AtomicLong items = new AtomicLong();
        AtomicLong lastN = new AtomicLong(-1);
        AtomicLong outOfOrder = new AtomicLong();
        Sink counting = new Sink() {
            @Override
            public String name() {
                return "counting";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.fromRunnable(() -> {
                    sample.run();
                    for (ChangeItem item : chunk.items()) {
                        long n = (Long) item.values().get("n");
                        if (n != lastN.get() + 1) {
                            outOfOrder.incrementAndGet();
                        }
                        lastN.set(n);
                    }
                    items.addAndGet(chunk.items().size());
                });
            }
        };
        Source sampled = new Source() {
            @Override
            public String name() {
                return source.name();
            }

            @Override
            public Flux<Chunk> read() {
                return source.read().doOnNext(c -> sample.run());
            }

            @Override
            public Mono<Void> acknowledge(Ack ack) {
                sample.run();
                return source.acknowledge(ack);
            }
        };
        Pipeline pipeline = Pipeline.builder("big").source(sampled).sink(counting)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.defaults()))
                .meterRegistry(registry).build();
        pipelineRef.set(pipeline);
        Disposable run = pipeline.run().subscribe();
        try {
            FileCheckpointStore store = FileCheckpointStore.open(dir.resolve("cp"));
            long size = log.toFile().length();
            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> {
                Checkpoint c = store.load(log.toString()).block();
                return c != null && Long.parseLong(c.attributes().get(FileOrigin.ATTR_POSITION)) == size;
            });
            assertThat(items.get()).isEqualTo(lines);
            assertThat(outOfOrder.get()).isZero();
            assertThat(maxInFlight.get()).isPositive().isLessThanOrEqualTo(IN_FLIGHT_LIMIT);
            assertThat(registry.get(OplogMetrics.BYTES_READ).counter().count()).isEqualTo((double) size);
            assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.RUNNING);
        } finally {
            pipeline.stop();
            await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.status().state() != Pipeline.State.RUNNING
                    && pipeline.status().state() != Pipeline.State.STOPPING);
            run.dispose();
        }
    }

    /** About 1 GiB of JSON Lines, ~100 bytes each; returns the number of lines. */
    private static long writeLog(Path log) throws IOException {
        long lines = 0;
        long written = 0;
        ByteBuffer buffer = ByteBuffer.allocate(4 << 20);
        StringBuilder b = new StringBuilder(128);
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            while (written < LOG_BYTES) {
                b.setLength(0);
                long key = lines % 100_003;
                b.append("{\"op\":\"update\",\"table\":\"big\",\"key\":{\"id\":").append(key)
                        .append("},\"values\":{\"id\":").append(key).append(",\"n\":").append(lines)
                        .append(",\"name\":\"row-").append(lines).append("\"}}\n");
                byte[] line = b.toString().getBytes(StandardCharsets.UTF_8);
                if (buffer.remaining() < line.length) {
                    buffer.flip();
                    while (buffer.hasRemaining()) {
                        ch.write(buffer);
                    }
                    buffer.clear();
                }
                buffer.put(line);
                written += line.length;
                lines++;
            }
            buffer.flip();
            while (buffer.hasRemaining()) {
                ch.write(buffer);
            }
        }
        return lines;
    }
}
