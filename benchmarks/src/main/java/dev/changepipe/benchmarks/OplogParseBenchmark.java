package dev.changepipe.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.source.oplog.LineParser;
import dev.changepipe.source.oplog.OplogLine;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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

/**
 * Lines per second parsed by the oplog file source's built-in line parsers, one thread, with the
 * baseline of Jackson reading the same JSON into maps (the floor of what a parser must do).
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar OplogParseBenchmark -f 1 -wi 2 -i 3
 * </pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class OplogParseBenchmark {

    static final int LINES = 1000;

    /** DJANGO: the seed article's format; JSON_LINES: one object per line. */
    @Param({"DJANGO", "JSON_LINES"})
    public String format;

    private byte[] buffer;
    private int[] starts;
    private int[] lengths;
    private int[] jsonStarts;
    private LineParser parser;
    private final ObjectMapper mapper = new ObjectMapper();

    @Setup
    public void setUp() {
        StringBuilder text = new StringBuilder();
        starts = new int[LINES];
        lengths = new int[LINES];
        jsonStarts = new int[LINES];
        for (int i = 0; i < LINES; i++) {
            String line = "DJANGO".equals(format) ? OplogLines.django(i) : OplogLines.jsonLine(i);
            starts[i] = text.toString().getBytes(StandardCharsets.UTF_8).length;
            int prefix = "DJANGO".equals(format) ? line.indexOf('[') : 0;
            jsonStarts[i] = starts[i] + prefix;
            lengths[i] = line.length() - 1;
            text.append(line);
        }
        buffer = text.toString().getBytes(StandardCharsets.UTF_8);
        parser = "DJANGO".equals(format) ? LineParser.django(Map.of()) : LineParser.jsonLines();
    }

    @Benchmark
    @OperationsPerInvocation(LINES)
    public void parse(Blackhole bh) {
        for (int i = 0; i < LINES; i++) {
            List<ChangeItem> items = parser.parse(OplogLine.of("bench.log", starts[i], i, buffer, starts[i], lengths[i]));
            bh.consume(items);
        }
    }

    /** Baseline: Jackson reads the line's JSON into maps, nothing else. */
    @Benchmark
    @OperationsPerInvocation(LINES)
    public void baselineJacksonReadOnly(Blackhole bh) throws Exception {
        for (int i = 0; i < LINES; i++) {
            bh.consume(mapper.readValue(buffer, jsonStarts[i], starts[i] + lengths[i] - jsonStarts[i], Object.class));
        }
    }
}
