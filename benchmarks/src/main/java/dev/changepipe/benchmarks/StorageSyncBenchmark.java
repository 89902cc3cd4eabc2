package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.source.storage.ImportKeyOptions;
import dev.changepipe.source.storage.RedisStorage;
import dev.changepipe.source.storage.StorageOptions;
import dev.changepipe.source.storage.StorageSyncOptions;
import dev.changepipe.source.storage.StorageSyncSource;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.r2dbc.pool.ConnectionPool;
import java.math.BigDecimal;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;
import reactor.core.publisher.Flux;

/**
 * End to end: {@value #ROWS} operations queued in Redis, synced by the worker in batches of
 * {@value #BATCH_SIZE} (fetch from PostgreSQL, write to ClickHouse, remove on ack), until the queue is
 * empty. Baseline in the same run: the same number of rows, built as items and written straight to
 * the ClickHouse sink in chunks of the same size (no Redis, no PostgreSQL). Results are rows per
 * second (operations per invocation / time).
 *
 * <pre>
 * java -Xmx2g -jar benchmarks/target/benchmarks.jar StorageSyncBenchmark -f 1 -wi 1 -i 3
 * </pre>
 *
 * Uses the servers named by {@code PIPELINE_TEST_*_URI}, or starts private ones.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 3)
@Fork(value = 1, jvmArgsAppend = "-Xmx2g")
public class StorageSyncBenchmark {

    static final int ROWS = 1_000_000;
    static final int BATCH_SIZE = 10_000;
    static final String IMPORT_KEY = "app.model";

    private PostgresServer pg;
    private ClickHouseServer ch;
    private String chDb;
    private String prefix;
    private RedisStorage storage;
    private RedisClient client;
    private StatefulRedisConnection<String, String> redis;
    private ConnectionPool pool;
    private ClickHouseSinkOptions sinkOptions;

    @Setup(Level.Trial)
    public void servers() {
        pg = BenchServers.postgres();
        ch = BenchServers.clickHouse();
        String redisUri = BenchServers.redis().uri();
        String pgDb = pg.createDatabase("bench_sync");
        pg.execute(pgDb, "CREATE TABLE app_model (id bigint PRIMARY KEY, name text NOT NULL, counter bigint NOT NULL, "
                + "amount numeric(12,2), updated timestamp NOT NULL)");
        pg.execute(pgDb, "INSERT INTO app_model SELECT g, 'name ' || g, g % 1000, (g % 100000) / 100.0, "
                + "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, " + ROWS + ") g");
        pg.execute(pgDb, "VACUUM ANALYZE app_model");
        chDb = ch.createDatabase("bench_sync");
        prefix = "benchsync" + UUID.randomUUID().toString().substring(0, 8);
        storage = RedisStorage.connect(redisUri, StorageOptions.builder().keyPrefix(prefix).allowFlush(true).build());
        client = RedisClient.create(redisUri);
        redis = client.connect();
        pool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 2);
        sinkOptions = ClickHouseSinkOptions.builder().endpoints(ch.httpUrl()).database(chDb).build();
    }

    @Setup(Level.Invocation)
    public void queue() {
        ch.execute("DROP TABLE IF EXISTS " + chDb + ".app_model");
        ch.execute("CREATE TABLE " + chDb + ".app_model (id UInt64, name String, counter Int64, amount Float64, "
                + "updated DateTime, version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        queueOperations(redis, prefix, ROWS, BATCH_SIZE);
    }

    /**
     * Queues {@code update:default.1} to {@code update:default.<rows>} under {@code prefix}, in
     * ascending scores from now, with one {@code ZADD} per {@code batch} (also the profile's workload).
     */
    @SuppressWarnings("unchecked")
    static void queueOperations(StatefulRedisConnection<String, String> redis, String prefix, int rows, int batch) {
        double now = System.currentTimeMillis() / 1000.0;
        String key = prefix + ":operations:" + IMPORT_KEY;
        Flux.range(0, (rows + batch - 1) / batch)
                .concatMap(b -> {
                    int n = Math.min(batch, rows - b * batch);
                    ScoredValue<String>[] members = new ScoredValue[n];
                    for (int i = 0; i < n; i++) {
                        int id = b * batch + i + 1;
                        members[i] = ScoredValue.just(now + id * 1e-6, "update:default." + id);
                    }
                    return redis.reactive().zadd(key, (Object[]) members);
                })
                .blockLast();
    }

    @TearDown(Level.Invocation)
    public void check(BenchmarkParams params) {
        long rows = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".app_model").trim());
        if (rows != ROWS) {
            throw new IllegalStateException("ClickHouse holds " + rows + " rows, expected " + ROWS);
        }
        // The end-to-end figure claims "removed on ack": every operation must be gone from Redis.
        long queued = storage.operationsCount(IMPORT_KEY).block();
        if (params.getBenchmark().endsWith("endToEnd") && queued != 0) {
            throw new IllegalStateException(queued + " operations are still queued after the sync");
        }
        storage.flush().block();
    }

    @TearDown(Level.Trial)
    public void close() {
        storage.close().block();
        redis.close();
        client.shutdown();
        pool.dispose();
    }

    /** The worker drains {@value #ROWS} operations: Redis -> PostgreSQL -> ClickHouse, remove on ack. */
    @Benchmark
    @OperationsPerInvocation(ROWS)
    public void endToEnd() {
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder(IMPORT_KEY).batchSize(BATCH_SIZE).build())
                .database("default", pool)
                .untilEmpty(true)
                .build());
        Pipeline.builder("bench").source(source).sink(ClickHouseSink.create(sinkOptions))
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2)
                        .inFlightLimitBytes(256L << 20).build()))
                .meterRegistry(new SimpleMeterRegistry())
                .build().run().block();
    }

    /** Baseline: the same rows, built as items, written straight to the sink in chunks of the same size. */
    @Benchmark
    @OperationsPerInvocation(ROWS)
    public void sinkOnlyBaseline() {
        ClickHouseSink sink = ClickHouseSink.create(sinkOptions);
        LocalDateTime start = LocalDateTime.of(2024, 1, 1, 0, 0);
        Flux.range(0, ROWS / BATCH_SIZE)
                .concatMap(b -> {
                    List<ChangeItem> items = new ArrayList<>(BATCH_SIZE);
                    for (int i = 0; i < BATCH_SIZE; i++) {
                        long id = (long) b * BATCH_SIZE + i + 1;
                        Map<String, Object> values = new LinkedHashMap<>();
                        values.put("id", id);
                        values.put("name", "name " + id);
                        values.put("counter", id % 1000);
                        values.put("amount", BigDecimal.valueOf(id % 100000, 2));
                        values.put("updated", start.plusSeconds(id));
                        items.add(ChangeItem.update(IMPORT_KEY, Map.of("id", id), values, 1));
                    }
                    return sink.write(Chunk.of(IMPORT_KEY, Offset.of(b + 1), items, false));
                })
                .then(sink.close())
                .block();
    }
}
