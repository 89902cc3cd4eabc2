package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.InsertFormat;
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
import reactor.core.publisher.Flux;

/**
 * Rows per second the ClickHouse sink writes, side by side with {@code clickhouse-client} inserting
 * the same rows as TabSeparated from a file (the baseline), in the same run, into the same kind of
 * table on the same private ClickHouse.
 *
 * <p>One invocation writes {@value #ROWS} rows (operations per invocation = rows, so the score is
 * rows per second): for the sink, {@value #ROWS} {@code ChangeItem}s of a realistic row (UInt64 key,
 * a String, a Decimal, a DateTime, version, is_deleted) in chunks of {@code chunkRows}, each chunk
 * one streamed insert, converted from the items' Java values on the fly; for the baseline,
 * {@code clickhouse-client --query "INSERT INTO ... FORMAT TabSeparated" < file} over the native
 * protocol, with the same rows pre-rendered in the file. The table is emptied before each iteration.
 *
 * <ul>
 *   <li>{@code sink-rowbinary}: the sink in RowBinary (its default)</li>
 *   <li>{@code sink-tsv}: the sink in TabSeparated</li>
 *   <li>{@code sink-rowbinary-lz4}: RowBinary with LZ4-compressed requests</li>
 *   <li>{@code clickhouse-client-tsv}: the baseline</li>
 * </ul>
 *
 * <p>Run (after {@code ./mvnw -B -ntp -pl benchmarks -am package -DskipTests}; needs
 * {@code clickhouse-server} and {@code clickhouse-client}, see scripts/install-servers):
 *
 * <pre>java -jar benchmarks/target/benchmarks.jar ClickHouseSinkBenchmark -f 1 -wi 2 -i 3</pre>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(ClickHouseSinkBenchmark.ROWS)
@Fork(value = 1, jvmArgsAppend = {"-Xms4g", "-Xmx4g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@State(Scope.Benchmark)
public class ClickHouseSinkBenchmark {

    /** Rows written per invocation. */
    static final int ROWS = 1_000_000;
    private static final String TABLE = "bench.customer";
    private static final String COLUMNS = "id UInt64, name String, balance Decimal(12, 2), created DateTime,"
            + " version UInt64, is_deleted UInt8";

    @Param({"sink-rowbinary", "sink-tsv", "sink-rowbinary-lz4", "clickhouse-client-tsv"})
    public String writer;

    @Param({"1000000", "100000"})
    public int chunkRows;

    private DedicatedClickHouse clickhouse;
    private String database;
    private ClickHouseSink sink;
    private List<Chunk> chunks;
    private Path tsv;
    private long written;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        clickhouse = ClickHouseServerExtension.startDedicated();
        database = clickhouse.server().createDatabase("bench");
        clickhouse.server().execute("CREATE TABLE " + database + ".bench_customer (" + COLUMNS
                + ") ENGINE = ReplacingMergeTree(version) ORDER BY id");
        if (writer.startsWith("sink")) {
            chunks = chunks(chunkRows);
            sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                    .endpoints(clickhouse.server().httpUrl())
                    .database(database)
                    .format(writer.equals("sink-tsv") ? InsertFormat.TAB_SEPARATED : InsertFormat.ROW_BINARY)
                    .compression(writer.endsWith("lz4"))
                    .retryDeadline(Duration.ZERO)
                    .build());
        } else {
            tsv = Files.createTempFile("changepipe-bench-", ".tsv");
            writeTsv(tsv);
        }
    }

    @Setup(Level.Iteration)
    public void emptyTable() {
        clickhouse.server().execute("TRUNCATE TABLE " + database + ".bench_customer");
    }

    @Benchmark
    public void write() throws IOException, InterruptedException {
        if (sink != null) {
            Flux.fromIterable(chunks).concatMap(sink::write).then().block();
        } else {
            Process p = new ProcessBuilder("clickhouse-client", "--host", "127.0.0.1",
                    "--port", Integer.toString(clickhouse.tcpPort()),
                    "--query", "INSERT INTO " + database + ".bench_customer FORMAT TabSeparated")
                    .redirectInput(tsv.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (p.waitFor() != 0) {
                throw new IllegalStateException("clickhouse-client failed with exit code " + p.exitValue());
            }
        }
        written += ROWS;
    }

    /** Every key written, with its last version (merges may already have removed the repeated rows). */
    @TearDown(Level.Iteration)
    public void checkRows() {
        String found = clickhouse.server().execute("SELECT uniqExact(id), max(version), min(version) FROM "
                + database + ".bench_customer FINAL FORMAT TabSeparated").trim();
        if (!found.equals(ROWS + "\t" + ROWS + "\t1")) {
            throw new IllegalStateException(writer + ": expected " + ROWS + " keys with versions 1.." + ROWS
                    + ", found (keys, max, min) " + found);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        if (sink != null) {
            sink.close().block();
        }
        if (tsv != null) {
            Files.deleteIfExists(tsv);
        }
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

    private static List<Chunk> chunks(int chunkRows) {
        List<Chunk> chunks = new ArrayList<>();
        List<ChangeItem> items = new ArrayList<>(chunkRows);
        for (long i = 0; i < ROWS; i++) {
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("id", i);
            values.put("name", name(i));
            values.put("balance", balance(i));
            values.put("created", created(i));
            items.add(new ChangeItem(ChangeItem.Kind.INSERT, TABLE, Map.of("id", i), values, i + 1, null, 200));
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

    private static void writeTsv(Path file) {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (long i = 0; i < ROWS; i++) {
                w.append(Long.toString(i)).append('\t').append(name(i)).append('\t')
                        .append(balance(i).toPlainString()).append('\t').append(Long.toString(created(i)))
                        .append('\t').append(Long.toString(i + 1)).append("\t0\n");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
