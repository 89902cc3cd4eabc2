package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Sink;
import dev.changepipe.sink.redis.HotStorageLookup;
import dev.changepipe.sink.redis.HotStorageOptions;
import dev.changepipe.sink.redis.RedisHotStorage;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import java.time.Duration;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import reactor.core.publisher.Flux;

/**
 * Redis hot storage: objects written per second (3 unique indexes each, every write a new version
 * that moves one index), and lookups per second by pk and by unique field, against a Redis given by
 * {@code -p redisUri=redis://127.0.0.1:PORT} (a private server: the benchmark writes keys under a
 * random prefix and deletes nothing). {@code benchmarks/hot-storage.sh} starts a private Redis, runs
 * {@code redis-benchmark} against it for the baseline, then this:
 *
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar HotStorageBenchmark -f 1 -wi 2 -i 3 -p redisUri=redis://127.0.0.1:PORT
 * </pre>
 *
 * One operation is one object written or one object looked up. Lookups run {@code inFlight} at a
 * time over the lookup's one connection (1: latency-bound; 64: pipelined by Lettuce, comparable to
 * {@code redis-benchmark -P 16} with its 50 clients).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class HotStorageBenchmark {

    static final int OBJECTS = 10_000;
    static final int CHUNK = 1_000;
    static final int LOOKUPS = 1_000;
    static final String MODEL = "auth.user";
    static final Duration TIMEOUT = Duration.ofMinutes(1);

    @Param("redis://127.0.0.1:6379")
    public String redisUri;

    private RedisClient client;
    private Sink sink;
    private HotStorageLookup lookup;
    private long version;
    private long offset;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        client = RedisClient.create();
        RedisURI uri = RedisURI.create(redisUri);
        HotStorageOptions options = HotStorageOptions.builder()
                .keyPrefix("bench-" + UUID.randomUUID().toString().substring(0, 8) + ":")
                .uniqueConstraint(MODEL, "email")
                .uniqueConstraint(MODEL, "username")
                .uniqueConstraint(MODEL, "first_name", "last_name")
                .build();
        sink = RedisHotStorage.sink(client, uri, options);
        lookup = RedisHotStorage.lookup(client, uri, options);
        for (int from = 0; from < OBJECTS; from += CHUNK) {
            writeChunk(from);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        sink.close().then(lookup.close()).block(TIMEOUT);
        client.shutdown();
    }

    /** A chunk of {@value #CHUNK} saves, each a new version whose email (one of 3 indexes) moves. */
    @Benchmark
    @OperationsPerInvocation(CHUNK)
    public void writeObjects() {
        writeChunk(next);
        next = (next + CHUNK) % OBJECTS;
    }

    @Benchmark
    @OperationsPerInvocation(LOOKUPS)
    public long lookupByPk(Lookups lookups) {
        int inFlight = lookups.inFlight;
        int from = next;
        next = (next + LOOKUPS) % OBJECTS;
        return Flux.range(from, LOOKUPS)
                .flatMap(i -> lookup.get(MODEL, (long) i), inFlight)
                .count().block(TIMEOUT);
    }

    @Benchmark
    @OperationsPerInvocation(LOOKUPS)
    public long lookupByUniqueField(Lookups lookups) {
        int inFlight = lookups.inFlight;
        int from = next;
        next = (next + LOOKUPS) % OBJECTS;
        return Flux.range(from, LOOKUPS)
                .flatMap(i -> lookup.getByUnique(MODEL, Map.of("username", "user" + i)), inFlight)
                .count().block(TIMEOUT);
    }

    /** How many lookups are in flight at once; only the lookup benchmarks use it. */
    @State(Scope.Benchmark)
    public static class Lookups {
        @Param({"1", "64"})
        public int inFlight;
    }

    private void writeChunk(int from) {
        long v = ++version;
        List<ChangeItem> items = new ArrayList<>(CHUNK);
        for (int i = from; i < from + CHUNK; i++) {
            Map<String, Object> fields = new LinkedHashMap<>();
            fields.put("id", (long) i);
            fields.put("email", "user" + i + "-v" + v + "@example.com");
            fields.put("username", "user" + i);
            fields.put("first_name", "First" + i);
            fields.put("last_name", "Last" + i);
            fields.put("is_active", Boolean.TRUE);
            items.add(ChangeItem.update(MODEL, Map.of("id", (long) i), fields, v));
        }
        sink.write(Chunk.of("bench", Offset.of(++offset), items, false)).block(TIMEOUT);
    }
}
