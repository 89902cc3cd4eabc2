package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.source.oplog.OplogFileOptions;
import dev.changepipe.source.oplog.OplogFileSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;

/**
 * Follow mode under a steady append rate: how many chunks the oplog file source cuts, and the latency
 * from a line's append to its item reaching the sink. A writer appends Django lines (about 110 bytes)
 * at {@code -Drate} changes/s for {@code -Dseconds}, {@code -DperWrite} lines per write call, each
 * line stamped with the wall-clock milliseconds of its write as its unix time; the source follows the
 * file with default settings except {@code -Dlinger} (ms), through the parse-queue pusher (2 parse
 * threads) into a sink that only records latencies. Not JMH: one run, printed as one line.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar -Drate=50000 -Dseconds=10 dev.changepipe.benchmarks.OplogFollowRun
 * java -cp benchmarks/target/benchmarks.jar -Drate=50000 -Dseconds=10 -Dlinger=0 dev.changepipe.benchmarks.OplogFollowRun
 * </pre>
 */
public final class OplogFollowRun {

    private OplogFollowRun() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        int rate = Integer.getInteger("rate", 50_000);
        int seconds = Integer.getInteger("seconds", 10);
        int perWrite = Integer.getInteger("perWrite", 10);
        long linger = Long.getLong("linger", OplogFileOptions.DEFAULT_LINGER.toMillis());
        int total = rate * seconds;
        Path dir = Files.createTempDirectory("oplog-follow");
        Path log = dir.resolve("app.log");
        Files.createFile(log);
        AtomicLong chunks = new AtomicLong();
        AtomicInteger received = new AtomicInteger();
        long[] latencies = new long[total];
        Sink sink = new Sink() {
            @Override
            public String name() {
                return "latency";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.fromRunnable(() -> {
                    if (chunk.items().isEmpty()) {
                        return;
                    }
                    chunks.incrementAndGet();
                    long now = System.currentTimeMillis();
                    for (ChangeItem item : chunk.items()) {
                        int i = received.getAndIncrement();
                        if (i < total) {
                            latencies[i] = now - item.commitTime().toEpochMilli();
                        }
                    }
                });
            }
        };
        OplogFileOptions options = OplogFileOptions.builder(log).linger(Duration.ofMillis(linger)).build();
        Disposable run = Pipeline.builder("follow")
                .source(OplogFileSource.create(options, FileCheckpointStore.open(dir.resolve("checkpoints")),
                        new SimpleMeterRegistry()))
                .sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build()))
                .build().run().subscribe();
        Thread.sleep(1000);
        long start = System.nanoTime();
        try (FileOutputStream out = new FileOutputStream(log.toFile(), true)) {
            for (int n = 0; n < total; n += perWrite) {
                long due = start + (long) n * 1_000_000_000L / rate;
                while (System.nanoTime() < due) {
                    Thread.onSpinWait();
                }
                long millis = System.currentTimeMillis();
                String time = millis / 1000 + "." + String.format("%03d", millis % 1000);
                StringBuilder lines = new StringBuilder();
                for (int i = n; i < n + perWrite && i < total; i++) {
                    lines.append(time).append(" SAVE [{\"model\": \"polls.question\", \"pk\": ").append(i % 100_000)
                            .append(", \"fields\": {\"question_text\": \"What is question ").append(i)
                            .append("?\", \"votes\": ").append(i).append("}}]\n");
                }
                out.write(lines.toString().getBytes(StandardCharsets.UTF_8));
            }
        }
        while (received.get() < total) {
            Thread.sleep(20);
        }
        run.dispose();
        Arrays.sort(latencies);
        System.out.printf("follow: rate=%d seconds=%d linger_ms=%d items=%d chunks=%d p50_ms=%d p99_ms=%d max_ms=%d%n",
                rate, seconds, linger, total, chunks.get(), latencies[total / 2], latencies[(int) (total * 0.99)],
                latencies[total - 1]);
    }
}
