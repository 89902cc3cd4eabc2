package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.InsertFormat;
import dev.changepipe.sink.clickhouse.WriteMode;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.DedicatedClickHouse;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;
import reactor.core.publisher.Flux;

/**
 * Rows per second the ClickHouse sink writes, side by side with {@code clickhouse-client} inserting
 * the same rows as TabSeparated from a file (the baseline), alternated within every invocation so
 * that a change of load on the shared machine hits both alike.
 *
 * <p>One invocation writes {@value #ROWS} rows twice, into two empty tables of the same definition on
 * the same private ClickHouse: once through the sink ({@value #ROWS} {@code ChangeItem}s of a realistic
 * row: UInt64 key, a String, a Decimal, a DateTime, version, is_deleted; in chunks of
 * {@code chunkRows}, each chunk one insert, converted from the items' Java values) and once with
 * {@code clickhouse-client --query "INSERT INTO ... FORMAT TabSeparated" < file} over the native
 * protocol, the same rows pre-rendered in the file. Which one goes first alternates from one
 * invocation to the next. Both tables are emptied before each invocation (not timed). Each writer is
 * timed on its own; after every iteration the benchmark prints both rates and their ratio
 * ({@code [ratio] ...} lines), and after the trial the ratio of the measurement iterations' totals.
 * Those lines are the result. JMH's own score counts the rows of both writers over their combined time
 * and is only a consistency check.
 *
 * <ul>
 *   <li>{@code sink-rowbinary}: the sink in RowBinary (its default)</li>
 *   <li>{@code sink-tsv}: the sink in TabSeparated</li>
 *   <li>{@code sink-rowbinary-lz4}: RowBinary with LZ4-compressed requests</li>
 *   <li>{@code sink-collapsing}: RowBinary into a {@code CollapsingMergeTree(sign)} table (both tables),
 *       every row a key never written before; a new sink per invocation (a cold start)</li>
 *   <li>{@code sink-collapsing-resave}: the same table, first filled (not timed) by the same sink, then
 *       every key saved again with a newer version (timed): a cancel row and a new row per key, the
 *       previous row known from the sink's cache (sized here to hold every key)</li>
 * </ul>
 *
 * <p>Run (after {@code ./mvnw -B -ntp -pl benchmarks -am package -DskipTests}; needs
 * {@code clickhouse-server} and {@code clickhouse-client}, see scripts/install-servers; other
 * engineers share the machine, so take the lock they use):
 *
 * <pre>flock /tmp/changepipe-bench.lock java -jar benchmarks/target/benchmarks.jar ClickHouseSinkBenchmark -f 1 -wi 2 -i 3 -p chunkRows=1000000</pre>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(2 * ClickHouseSinkBenchmark.ROWS)
@Fork(value = 1, jvmArgsAppend = {"-Xms4g", "-Xmx4g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@State(Scope.Benchmark)
public class ClickHouseSinkBenchmark {

    /** Rows written per invocation by each writer. */
    static final int ROWS = 1_000_000;
    private static final String TABLE = "bench.customer";
    private static final String COLUMNS = "id UInt64, name String, balance Decimal(12, 2), created DateTime,"
            + " version UInt64, is_deleted UInt8";

    @Param({"sink-rowbinary", "sink-rowbinary-lz4", "sink-tsv", "sink-collapsing", "sink-collapsing-resave"})
    public String writer;

    @Param({"1000000", "100000"})
    public int chunkRows;

    private DedicatedClickHouse clickhouse;
    private String database;
    private ClickHouseSink sink;
    private List<Chunk> chunks;
    /** sink-collapsing-resave: the rows written before the timed write (versions 1..ROWS). */
    private List<Chunk> firstChunks;
    private boolean collapsing;
    private Path tsv;
    private long invocations;
    /** Time spent by each writer in the current iteration, and over the measurement iterations. */
    private long sinkNanos;
    private long clientNanos;
    private long sinkRows;
    private long clientRows;
    private long totalSinkNanos;
    private long totalClientNanos;
    private long totalSinkRows;
    private long totalClientRows;
    private final List<String> ratios = new ArrayList<>();

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        clickhouse = ClickHouseServerExtension.startDedicated();
        database = clickhouse.server().createDatabase("bench");
        collapsing = writer.startsWith("sink-collapsing");
        String columns = collapsing ? COLUMNS.replace("is_deleted UInt8", "sign Int8") : COLUMNS;
        String engine = collapsing ? "CollapsingMergeTree(sign)" : "ReplacingMergeTree(version)";
        for (String table : List.of("bench_customer", "client_customer")) {
            clickhouse.server().execute("CREATE TABLE " + database + "." + table + " (" + columns
                    + ") ENGINE = " + engine + " ORDER BY id");
        }
        boolean resave = writer.equals("sink-collapsing-resave");
        chunks = chunks(chunkRows, resave ? ROWS : 0);
        firstChunks = resave ? chunks(chunkRows, 0) : null;
        sink = newSink();
        tsv = Files.createTempFile("changepipe-bench-", ".tsv");
        writeTsv(tsv, collapsing ? "1" : "0");
    }

    private ClickHouseSink newSink() {
        return ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.server().httpUrl())
                .database(database)
                .format(writer.equals("sink-tsv") ? InsertFormat.TAB_SEPARATED : InsertFormat.ROW_BINARY)
                .compression(writer.endsWith("lz4"))
                .defaultMode(collapsing ? WriteMode.COLLAPSING : WriteMode.REPLACING)
                .collapsingCache(2 * ROWS, 2L << 30)
                .retryDeadline(Duration.ZERO)
                .build());
    }

    @Setup(Level.Invocation)
    public void emptyTables() {
        clickhouse.server().execute("TRUNCATE TABLE " + database + ".bench_customer");
        clickhouse.server().execute("TRUNCATE TABLE " + database + ".client_customer");
        if (collapsing) {
            sink.close().block(); // its cache describes the rows just truncated: start cold
            sink = newSink();
        }
        if (firstChunks != null) {
            Flux.fromIterable(firstChunks).concatMap(sink::write).then().block();
        }
    }

    @Benchmark
    public void write() throws IOException, InterruptedException {
        if (invocations++ % 2 == 0) {
            writeWithSink();
            writeWithClient();
        } else {
            writeWithClient();
            writeWithSink();
        }
    }

    private void writeWithSink() {
        long start = System.nanoTime();
        Flux.fromIterable(chunks).concatMap(sink::write).then().block();
        sinkNanos += System.nanoTime() - start;
        sinkRows += ROWS;
    }

    private void writeWithClient() throws IOException, InterruptedException {
        long start = System.nanoTime();
        Process p = new ProcessBuilder("clickhouse-client", "--host", "127.0.0.1",
                "--port", Integer.toString(clickhouse.tcpPort()),
                "--query", "INSERT INTO " + database + ".client_customer FORMAT TabSeparated")
                .redirectInput(tsv.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("clickhouse-client failed with exit code " + p.exitValue());
        }
        clientNanos += System.nanoTime() - start;
        clientRows += ROWS;
    }

    /** Prints both rates and their ratio; checks both tables hold every key with its last version. */
    @TearDown(Level.Iteration)
    public void endIteration(IterationParams iteration) {
        double sinkRate = sinkRows / (sinkNanos / 1e9);
        double clientRate = clientRows / (clientNanos / 1e9);
        String line = String.format("%s %,d invocations: sink %,.0f rows/s, clickhouse-client %,.0f rows/s, ratio %.3f",
                iteration.getType() == IterationType.WARMUP ? "warmup" : "measurement", sinkRows / ROWS,
                sinkRate, clientRate, sinkRate / clientRate);
        System.out.println();
        System.out.println("[ratio] " + writer + " chunkRows=" + chunkRows + " " + line);
        if (iteration.getType() == IterationType.MEASUREMENT) {
            ratios.add(String.format("%.3f", sinkRate / clientRate));
            totalSinkNanos += sinkNanos;
            totalClientNanos += clientNanos;
            totalSinkRows += sinkRows;
            totalClientRows += clientRows;
        }
        sinkNanos = clientNanos = sinkRows = clientRows = 0;
        for (String table : List.of("bench_customer", "client_customer")) {
            String found = clickhouse.server().execute("SELECT uniqExact(id), max(version), min(version) FROM "
                    + database + "." + table + " FINAL FORMAT TabSeparated").trim();
            long first = firstChunks != null && table.equals("bench_customer") ? ROWS + 1 : 1;
            if (!found.equals(ROWS + "\t" + (first + ROWS - 1) + "\t" + first)) {
                throw new IllegalStateException(table + ": expected " + ROWS + " keys with versions " + first + ".."
                        + (first + ROWS - 1) + ", found (keys, max, min) " + found);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (totalSinkRows > 0) {
            double sinkRate = totalSinkRows / (totalSinkNanos / 1e9);
            double clientRate = totalClientRows / (totalClientNanos / 1e9);
            System.out.printf("%n[ratio] %s chunkRows=%d total of the measurement iterations: sink %,.0f rows/s,"
                    + " clickhouse-client %,.0f rows/s, ratio %.3f (per iteration: %s)%n", writer, chunkRows,
                    sinkRate, clientRate, sinkRate / clientRate, String.join(", ", ratios));
        }
        sink.close().block();
        Files.deleteIfExists(tsv);
        clickhouse.close();
    }

    static String name(long i) {
        return "customer-" + i;
    }

    static BigDecimal balance(long i) {
        return BigDecimal.valueOf(i % 10_000_000, 2);
    }

    static long created(long i) {
        return 1_700_000_000L + i;
    }

    private static List<Chunk> chunks(int chunkRows, long versionOffset) {
        List<Chunk> chunks = new ArrayList<>();
        List<ChangeItem> items = new ArrayList<>(chunkRows);
        for (long i = 0; i < ROWS; i++) {
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("id", i);
            values.put("name", name(i));
            values.put("balance", balance(i));
            values.put("created", created(i));
            items.add(new ChangeItem(versionOffset == 0 ? ChangeItem.Kind.INSERT : ChangeItem.Kind.UPDATE, TABLE, Map.of("id", i), values, versionOffset + i + 1, null, 200));
            if (items.size() == chunkRows) {
                chunks.add(Chunk.of("bench", Offset.of(chunks.size()), items, false));
                items = new ArrayList<>(chunkRows);
            }
        }
        if (!items.isEmpty()) {
            chunks.add(Chunk.of("bench", Offset.of(chunks.size()), items, false));
        }
        return chunks;
    }

    private static void writeTsv(Path file, String last) {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (long i = 0; i < ROWS; i++) {
                w.append(Long.toString(i)).append('\t').append(name(i)).append('\t')
                        .append(balance(i).toPlainString()).append('\t').append(Long.toString(created(i)))
                        .append('\t').append(Long.toString(i + 1)).append('\t').append(last).append('\n');
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
