package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

/**
 * The ceiling for {@link PusherBenchmark}: the same 100,000 lines parsed by {@link JsonLinesParser}
 * directly, with no pusher, sink or acks. The score is lines per second, summed over JMH threads.
 * Run with one thread (what a sync pusher can at best reach) and with two (what this machine can at
 * best reach with two parse threads, counting the JVM's own GC and JIT work):
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar 'benchmarks.ParseBenchmark' -f 1 -wi 4 -i 6 -t 1
 * java -jar benchmarks/target/benchmarks.jar 'benchmarks.ParseBenchmark' -f 1 -wi 4 -i 6 -t 2
 * </pre>
 *
 * <p>(The pattern is a regular expression; plain {@code ParseBenchmark} also selects
 * {@code OplogParseBenchmark}.) Scores vary by up to 10 % between forks (JIT decisions); compare with
 * {@code -f 3}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(PusherBenchmark.LINES)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 3)
@State(Scope.Benchmark)
public class ParseBenchmark {

    @Param({"1000"})
    public int chunkLines;

    private List<byte[]> blocks;

    @Setup(Level.Trial)
    public void setUp() {
        blocks = Workload.blocks(PusherBenchmark.LINES, chunkLines);
    }

    @Benchmark
    public long parseAll() {
        long checksum = 0;
        int items = 0;
        for (int i = 0; i < blocks.size(); i++) {
            List<ChangeItem> parsed = JsonLinesParser.parse(blocks.get(i), (long) i * chunkLines);
            for (int j = 0, n = parsed.size(); j < n; j++) {
                ChangeItem item = parsed.get(j);
                checksum = 31 * checksum + (item.version() ^ item.sizeBytes());
            }
            items += parsed.size();
        }
        if (items != PusherBenchmark.LINES) {
            throw new IllegalStateException("parsed " + items + " items, expected " + PusherBenchmark.LINES);
        }
        return checksum;
    }
}
