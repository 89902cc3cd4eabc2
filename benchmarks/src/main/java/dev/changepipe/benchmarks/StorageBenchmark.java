package dev.changepipe.benchmarks;

import dev.changepipe.source.storage.Operation;
import dev.changepipe.source.storage.RedisStorage;
import dev.changepipe.source.storage.StorageOptions;
import dev.changepipe.source.storage.OperationBatch;
import dev.changepipe.source.storage.SyncLease;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
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
import reactor.core.publisher.Mono;

/**
 * The Redis operations storage: registration of single-pk calls from many concurrent callers, and
 * draining (get + remove) in batches, each against a baseline measured in the same run:
 * registration against one plain {@code ZADD} per call (django-clickhouse's way, pipelined by
 * Lettuce), draining against django-clickhouse's {@code ZRANGEBYSCORE} + {@code ZREMRANGEBYRANK}.
 * Results are operations (pks) per second.
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar StorageBenchmark -f 1 -wi 2 -i 3
 * </pre>
 *
 * Uses the Redis named by {@code PIPELINE_TEST_REDIS_URI}, or starts a private one.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 3)
@Fork(1)
public class StorageBenchmark {

    static final int CALLS = 20_000;
    static final int BATCH = 10_000;

    /** Registration calls outstanding at once (the concurrent callers). */
    @Param({"1000"})
    public int callers;

    private RedisStorage storage;
    private RedisClient client;
    private StatefulRedisConnection<String, String> connection;
    private RedisReactiveCommands<String, String> redis;
    private String prefix;
    private final AtomicLong pk = new AtomicLong();

    @Setup(Level.Trial)
    public void connect() {
        String uri = BenchServers.redis().uri();
        prefix = "bench" + UUID.randomUUID().toString().substring(0, 8);
        storage = RedisStorage.connect(uri, StorageOptions.builder().keyPrefix(prefix).allowFlush(true).build());
        client = RedisClient.create(uri);
        connection = client.connect();
        redis = connection.reactive();
    }

    @TearDown(Level.Iteration)
    public void empty() {
        storage.flush().block();
    }

    @TearDown(Level.Trial)
    public void close() {
        storage.close().block();
        connection.close();
        client.shutdown();
    }

    private String opsKey(String importKey) {
        return prefix + ":operations:" + importKey;
    }

    /**
     * {@value #CALLS} single-pk registrations from {@code callers} concurrent callers, each making its
     * share of the calls one after another (an application thread registering after each commit).
     */
    @Benchmark
    @OperationsPerInvocation(CALLS)
    public Object register() {
        return callers(() -> storage.registerOperations("bench.model", Operation.Type.UPDATE,
                Long.toString(pk.incrementAndGet())));
    }

    /** Baseline: one {@code ZADD} per call, from the same callers. */
    @Benchmark
    @OperationsPerInvocation(CALLS)
    public Object registerBaselineZaddPerCall() {
        String key = opsKey("bench.model");
        return callers(() -> redis.zadd(key, System.currentTimeMillis() / 1000.0, "update:default." + pk.incrementAndGet()));
    }

    /**
     * Runs {@value #CALLS} calls from {@code callers} callers. Each caller completes once, at its end:
     * a flatMap over 1,000 inners that each emit per call spends its time rescanning the inners (it
     * did: 85 % of the samples in {@code FluxFlatMap.drainLoop}), which measured the harness, not the
     * storage.
     */
    private Object callers(java.util.function.Supplier<Mono<?>> call) {
        return Flux.range(0, callers)
                .flatMap(c -> Flux.range(0, CALLS / callers).concatMap(i -> call.get()).then(), callers)
                .then()
                .block();
    }

    /** A queue of {@value #BATCH} operations to drain, refilled before every invocation. */
    @State(Scope.Thread)
    public static class Queue {
        ScoredValue<String>[] members;

        @Setup(Level.Trial)
        @SuppressWarnings("unchecked")
        public void members() {
            members = new ScoredValue[BATCH];
            double now = System.currentTimeMillis() / 1000.0;
            for (int i = 0; i < BATCH; i++) {
                members[i] = ScoredValue.just(now + i * 1e-6, "update:default." + i);
            }
        }

        @Setup(Level.Invocation)
        public void fill(StorageBenchmark b) {
            b.redis.zadd(b.opsKey("bench.drain"), (Object[]) members).block();
        }
    }

    /** preSync, getOperations({@value #BATCH}), postSync: removes the whole batch. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long drain(Queue queue) {
        SyncLease lease = storage.preSync("bench.drain").block();
        OperationBatch ops = storage.getOperations(lease, BATCH).block();
        long removed = storage.postSync(ops).block();
        if (removed != BATCH) {
            throw new IllegalStateException("removed " + removed);
        }
        return removed;
    }

    /** Baseline: django-clickhouse's get_operations + post_sync (rank key, ZREMRANGEBYRANK), no lock. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long drainBaselineByRank(Queue queue) {
        String key = opsKey("bench.drain");
        String rank = prefix + ":timstamp:bench.drain";
        List<ScoredValue<String>> ops = redis.zrangebyscoreWithScores(key,
                Range.create(Double.NEGATIVE_INFINITY, System.currentTimeMillis() / 1000.0 + 3600),
                Limit.create(0, BATCH)).collectList().block();
        redis.set(rank, Integer.toString(ops.size() - 1)).block();
        long removed = Mono.from(redis.get(rank))
                .flatMap(top -> redis.zremrangebyrank(key, 0, Long.parseLong(top))).block();
        if (removed != BATCH) {
            throw new IllegalStateException("removed " + removed);
        }
        return removed;
    }

    static Duration timeout() {
        return Duration.ofMinutes(5);
    }
}
