package dev.changepipe.benchmarks;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Pusher;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.pusher.SyncPusher;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import reactor.core.publisher.Flux;

/**
 * {@link SyncPusher} versus {@link ParseQueuePusher} with 1, 2 and 4 parse threads on a parse-heavy
 * workload: 100,000 JSON Lines changes (about 400 bytes each, see {@link Workload}) parsed with
 * Jackson by {@link JsonLinesParser} in the pusher's parse stage, written to a sink that does nothing
 * but count the items.
 *
 * <p>One invocation creates a fresh pusher, pushes every chunk one at a time
 * ({@code concatMap(pusher::push)}, as a source does), closes the pusher and waits until everything
 * is written and acknowledged. The score is <b>lines per second</b> (operations per invocation =
 * lines).
 *
 * <p>Run (after {@code ./mvnw -B -ntp -pl benchmarks -am package -DskipTests}):
 *
 * <pre>java -jar benchmarks/target/benchmarks.jar PusherBenchmark -f 1 -wi 4 -i 6</pre>
 *
 * <p>The defaults below (one fork, 4 x 2 s warm-up, 6 x 3 s measurement) run all eight parameter
 * combinations in about 4 minutes. Narrow with {@code -p pusher=sync,parse-queue-2 -p chunkLines=1000}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(PusherBenchmark.LINES)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 3)
@State(Scope.Benchmark)
public class PusherBenchmark {

    /** Lines pushed per invocation. */
    static final int LINES = 100_000;
    /**
     * The parse-queue pusher's in-flight limit: far more than one chunk (about 40 KB or 400 KB of
     * lines), far less than the data set (about 40 MB). Override with
     * {@code -jvmArgsAppend -Dchangepipe.bench.inFlightLimitBytes=...}.
     */
    static final long IN_FLIGHT_LIMIT_BYTES = Long.getLong("changepipe.bench.inFlightLimitBytes", 8L << 20);
    private static final String ORIGIN = "bench/orders.jsonl";

    @Param({"sync", "parse-queue-1", "parse-queue-2", "parse-queue-4"})
    public String pusher;

    @Param({"100", "1000"})
    public int chunkLines;

    private List<byte[]> blocks;
    private MeterRegistry registry;

    @Setup(Level.Trial)
    public void setUp() {
        blocks = Workload.blocks(LINES, chunkLines);
        registry = new SimpleMeterRegistry();
    }

    @Benchmark
    public long pushAll(Blackhole blackhole) {
        CountingSink sink = new CountingSink();
        AckCounter acks = new AckCounter();
        Pusher p = newPusher(sink, acks);
        Flux.range(0, blocks.size())
                .concatMap(i -> p.push(chunk(i)))
                .then(p.close(Duration.ofMinutes(5)))
                .block();
        if (sink.items != LINES || acks.acks != blocks.size() || acks.items != LINES) {
            throw new IllegalStateException("expected " + LINES + " items in " + blocks.size() + " acks, sink saw "
                    + sink.items + " items, ack consumer " + acks.acks + " acks of " + acks.items + " items");
        }
        blackhole.consume(acks.lastCommittable);
        return sink.checksum;
    }

    private Pusher newPusher(Sink sink, Consumer<Ack> acks) {
        if (pusher.equals("sync")) {
            return SyncPusher.create("bench", List.of(sink), acks, registry);
        }
        if (pusher.startsWith("parse-queue-")) {
            int parallelism = Integer.parseInt(pusher.substring("parse-queue-".length()));
            ParseQueueOptions options = ParseQueueOptions.builder()
                    .parallelism(parallelism)
                    .inFlightLimitBytes(IN_FLIGHT_LIMIT_BYTES)
                    .build();
            return ParseQueuePusher.create("bench", List.of(sink), acks, options, registry);
        }
        throw new IllegalArgumentException("unknown pusher " + pusher);
    }

    /** Chunk {@code i}: its block as raw records, at the block's byte offset; the last one completes. */
    private Chunk chunk(int i) {
        byte[] block = blocks.get(i);
        long firstVersion = (long) i * chunkLines;
        return Chunk.raw(ORIGIN, Offset.of(firstVersion), block.length,
                () -> JsonLinesParser.parse(block, firstVersion), i == blocks.size() - 1);
    }

    /**
     * Counts the items and folds each item's version and size estimate (which depends on every parsed
     * string) into a checksum that the benchmark returns, so the parse results are observably used.
     * Writes come one at a time (the {@link Sink} contract), so plain fields suffice; the pusher's
     * close hands them over to the benchmark thread.
     */
    static final class CountingSink implements Sink {
        long items;
        long checksum;

        @Override
        public String name() {
            return "counting";
        }

        @Override
        public reactor.core.publisher.Mono<Void> write(Chunk chunk) {
            long sum = checksum;
            List<ChangeItem> list = chunk.items();
            for (int i = 0, n = list.size(); i < n; i++) {
                ChangeItem item = list.get(i);
                sum = 31 * sum + (item.version() ^ item.sizeBytes());
            }
            checksum = sum;
            items += list.size();
            return reactor.core.publisher.Mono.empty();
        }
    }

    /** Counts the acks; the pusher delivers them serially. */
    static final class AckCounter implements Consumer<Ack> {
        long acks;
        long items;
        Offset lastCommittable;

        @Override
        public void accept(Ack ack) {
            acks++;
            items += ack.items();
            lastCommittable = ack.committable();
        }
    }
}
