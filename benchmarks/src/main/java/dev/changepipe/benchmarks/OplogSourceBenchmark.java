package dev.changepipe.benchmarks;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.PusherFactory;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.pusher.SyncPusher;
import dev.changepipe.source.oplog.OplogFileOptions;
import dev.changepipe.source.oplog.OplogFileSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import reactor.core.publisher.Mono;

/**
 * End to end: lines per second of the oplog file source reading a log of {@value #LINES} lines (about
 * 200 bytes each) in snapshot mode through a pusher into a no-op sink, checkpoints included. Baseline:
 * reading the same file through a FileChannel and counting newlines (what any reader must do).
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar 'OplogSourceBenchmark.endToEndNoOpSink' -f 1 -wi 2 -i 3
 * java -jar benchmarks/target/benchmarks.jar 'OplogSourceBenchmark.baseline' -p pusher=sync -f 1 -wi 2 -i 3
 * </pre>
 *
 * <p>The baseline does not use the pusher; run it with one {@code pusher} value.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class OplogSourceBenchmark {

    static final int LINES = 200_000;

    @Param({"DJANGO", "JSON_LINES"})
    public String format;

    /** sync: SyncPusher; parse-queue: ParseQueuePusher with 2 parse threads, 64 MiB in flight. */
    @Param({"sync", "parse-queue"})
    public String pusher;

    private Path dir;
    private Path log;

    @Setup(Level.Trial)
    public void writeLog() throws IOException {
        dir = Files.createTempDirectory("oplog-bench");
        log = dir.resolve("bench.log");
        try (Writer w = Files.newBufferedWriter(log, StandardCharsets.UTF_8)) {
            for (int i = 0; i < LINES; i++) {
                w.write("DJANGO".equals(format) ? OplogLines.django(i) : OplogLines.jsonLine(i));
            }
        }
    }

    @Setup(Level.Invocation)
    public void forgetCheckpoints() throws IOException {
        deleteTree(dir.resolve("checkpoints"));
    }

    @TearDown(Level.Trial)
    public void removeLog() throws IOException {
        deleteTree(dir);
    }

    @Benchmark
    @OperationsPerInvocation(LINES)
    public void endToEndNoOpSink() {
        OplogFileOptions options = OplogFileOptions.builder(log)
                .format(OplogFileOptions.Format.valueOf(format))
                .mode(OplogFileOptions.Mode.SNAPSHOT)
                .build();
        PusherFactory factory = "sync".equals(pusher) ? SyncPusher.factory()
                : ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build());
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Pipeline.builder("bench")
                .source(OplogFileSource.create(options, FileCheckpointStore.open(dir.resolve("checkpoints")), registry))
                .sink(new Sink() {
                    @Override
                    public String name() {
                        return "no-op";
                    }

                    @Override
                    public Mono<Void> write(Chunk chunk) {
                        return Mono.empty();
                    }
                })
                .pusher(factory)
                .meterRegistry(registry)
                .build()
                .run()
                .block();
    }

    /** Baseline: read the file in 1 MiB blocks and count the newlines. */
    @Benchmark
    @OperationsPerInvocation(LINES)
    public long baselineReadAndSplitLines() throws IOException {
        long lines = 0;
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.READ)) {
            while (ch.read(buffer) > 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    if (buffer.get() == '\n') {
                        lines++;
                    }
                }
                buffer.clear();
            }
        }
        return lines;
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
