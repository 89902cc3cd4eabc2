package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.source.oplog.LineParser;
import dev.changepipe.source.oplog.OplogLine;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * CPU time per line of a built-in line parser on one thread, measured with the thread's CPU clock, so
 * that other processes on a shared machine barely move it (JMH's wall-clock scores do move). Same lines
 * as {@link OplogParseBenchmark}; 6 rounds of 1,000,000 lines, the first 2 are warm-up. The parse thread
 * only: GC threads are not counted.
 *
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.changepipe.benchmarks.OplogParseCpu DJANGO
 * java -cp benchmarks/target/benchmarks.jar dev.changepipe.benchmarks.OplogParseCpu JSON_LINES
 * </pre>
 */
public final class OplogParseCpu {

    private OplogParseCpu() {
    }

    public static void main(String[] args) {
        boolean django = args.length == 0 || args[0].equals("DJANGO");
        int n = 1000;
        byte[][] lines = new byte[n][];
        for (int i = 0; i < n; i++) {
            String line = django ? OplogLines.django(i) : OplogLines.jsonLine(i);
            lines[i] = line.strip().getBytes(StandardCharsets.UTF_8);
        }
        LineParser parser = django ? LineParser.django(Map.of()) : LineParser.jsonLines();
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (int round = 0; round < 6; round++) {
            long cpu = threads.getCurrentThreadCpuTime();
            long size = 0;
            int reps = 1000;
            for (int r = 0; r < reps; r++) {
                for (int i = 0; i < n; i++) {
                    List<ChangeItem> items = parser.parse(OplogLine.of("bench.log", i, (long) i << 8, lines[i], 0,
                            lines[i].length));
                    size += items.get(0).sizeBytes();
                }
            }
            double ns = (threads.getCurrentThreadCpuTime() - cpu) / (double) (reps * n);
            System.out.printf("%s round %d%s: %.0f ns CPU per line, sizeBytes %d per item%n", django ? "DJANGO" : "JSON_LINES",
                    round, round < 2 ? " (warm-up)" : "", ns, size / ((long) reps * n));
        }
    }
}
