package dev.changepipe.benchmarks;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.core.Source;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.WriteMode;
import dev.changepipe.source.storage.ImportKeyOptions;
import dev.changepipe.source.storage.Operation;
import dev.changepipe.source.storage.OperationsStorage;
import dev.changepipe.source.storage.RedisStorage;
import dev.changepipe.source.storage.StorageOptions;
import dev.changepipe.source.storage.StorageSyncOptions;
import dev.changepipe.source.storage.StorageSyncSource;
import dev.changepipe.source.storage.OperationBatch;
import dev.changepipe.source.storage.SyncLease;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.r2dbc.pool.ConnectionPool;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Where one end-to-end sync of {@link StorageSyncBenchmark}'s workload spends its time: the same
 * servers, table and queue, with timing decorators around the storage, the source and the sink (the
 * code under test is not changed). Prints a per-phase breakdown of the wall time, summed over the
 * rounds, after each of {@code -Druns=3} runs (the first one warms up). {@code -DbatchesInFlight=1}
 * (the default here) syncs one batch at a time, so that the phases follow each other; with 2 they
 * overlap and only the total counts.
 *
 * <pre>
 * java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.changepipe.benchmarks.StorageSyncProfile
 * </pre>
 *
 * {@code -Dmode=collapsing} writes into a {@code CollapsingMergeTree(sign)} table in the sink's
 * collapsing mode instead of the default replacing mode.
 *
 * Phases of a round, each measured from the end of the previous one: {@code preSync} (lock),
 * {@code getOperations} (Redis fetch), {@code fetch+build} (PostgreSQL query, row decoding and building
 * the chunk, up to the source emitting it), {@code to sink} (the pusher handing the chunk to the sink),
 * {@code sink write} (ClickHouse, including the sink's conversion), {@code to ack} (the pusher
 * acknowledging), {@code postSync} (removal and last sync time) and {@code between rounds} (from the
 * acknowledgement's completion to the next preSync: scheduling and any delay).
 */
public final class StorageSyncProfile {

    enum Phase {
        PRE_SYNC("preSync"), GET_OPERATIONS("getOperations"), FETCH_AND_BUILD("fetch+build"), TO_SINK("to sink"),
        SINK_WRITE("sink write"), TO_ACK("to ack"), POST_SYNC("postSync"), BETWEEN("between rounds");

        final String label;

        Phase(String label) {
            this.label = label;
        }
    }

    private final Map<Phase, AtomicLong> nanos = new EnumMap<>(Phase.class);
    private volatile long mark;

    private StorageSyncProfile() {
        for (Phase p : Phase.values()) {
            nanos.put(p, new AtomicLong());
        }
    }

    private void lap(Phase phase) {
        long now = System.nanoTime();
        long before = mark;
        mark = now;
        if (before != 0) {
            nanos.get(phase).addAndGet(now - before);
        }
    }

    public static void main(String[] args) {
        int rows = Integer.getInteger("rows", StorageSyncBenchmark.ROWS);
        int batch = Integer.getInteger("batch", StorageSyncBenchmark.BATCH_SIZE);
        int runs = Integer.getInteger("runs", 3);
        // 1 (the default here): one batch at a time, so that the phases follow each other and the
        // breakdown adds up; with 2 (the worker's default) fetches overlap writes and only the total counts.
        int inFlight = Integer.getInteger("batchesInFlight", 1);
        PostgresServer pg = BenchServers.postgres();
        ClickHouseServer ch = BenchServers.clickHouse();
        String redisUri = BenchServers.redis().uri();
        String pgDb = pg.createDatabase("bench_profile");
        pg.execute(pgDb, "CREATE TABLE app_model (id bigint PRIMARY KEY, name text NOT NULL, counter bigint NOT NULL, "
                + "amount numeric(12,2), updated timestamp NOT NULL)");
        pg.execute(pgDb, "INSERT INTO app_model SELECT g, 'name ' || g, g % 1000, (g % 100000) / 100.0, "
                + "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, " + rows + ") g");
        pg.execute(pgDb, "VACUUM ANALYZE app_model");
        String chDb = ch.createDatabase("bench_profile");
        String prefix = "benchprof" + UUID.randomUUID().toString().substring(0, 8);
        RedisStorage redisStorage = RedisStorage.connect(redisUri,
                StorageOptions.builder().keyPrefix(prefix).allowFlush(true).build());
        RedisClient client = RedisClient.create(redisUri);
        StatefulRedisConnection<String, String> redis = client.connect();
        ConnectionPool pool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 2);
        boolean collapsing = "collapsing".equals(System.getProperty("mode"));
        ClickHouseSinkOptions sinkOptions = ClickHouseSinkOptions.builder().endpoints(ch.httpUrl()).database(chDb)
                .defaultMode(collapsing ? WriteMode.COLLAPSING : WriteMode.REPLACING).build();
        try {
            for (int run = 1; run <= runs; run++) {
                ch.execute("DROP TABLE IF EXISTS " + chDb + ".app_model");
                ch.execute("CREATE TABLE " + chDb + ".app_model (id UInt64, name String, counter Int64, amount Float64, "
                        + "updated DateTime, version UInt64, "
                        + (collapsing ? "sign Int8) ENGINE = CollapsingMergeTree(sign)" : "is_deleted UInt8) ENGINE = ReplacingMergeTree(version)")
                        + " ORDER BY id");
                StorageSyncBenchmark.queueOperations(redis, prefix, rows, batch);
                StorageSyncProfile p = new StorageSyncProfile();
                OperationsStorage storage = p.timed(redisStorage);
                StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                        .importKey(ImportKeyOptions.builder(StorageSyncBenchmark.IMPORT_KEY).batchSize(batch).build())
                        .database("default", pool)
                        .untilEmpty(true)
                        .batchesInFlight(inFlight)
                        .build());
                double[] cpuBefore = cpuSeconds(redis);
                long start = System.nanoTime();
                Pipeline.builder("profile").source(p.timed(source)).sink(p.timed(ClickHouseSink.create(sinkOptions)))
                        .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2)
                                .inFlightLimitBytes(256L << 20).build()))
                        .meterRegistry(new SimpleMeterRegistry())
                        .build().run().block();
                long total = System.nanoTime() - start;
                long inCh = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".app_model").trim());
                if (inCh != rows) {
                    throw new IllegalStateException("ClickHouse holds " + inCh + " rows, expected " + rows);
                }
                p.print(run, rows, batch, inFlight, total);
                double[] cpuAfter = cpuSeconds(redis);
                System.out.printf("  cpu: this JVM %.1f s, Redis %.1f s, the whole machine %.1f s (%.1f s per core "
                        + "elapsed)%n", cpuAfter[0] - cpuBefore[0], cpuAfter[1] - cpuBefore[1],
                        cpuAfter[2] - cpuBefore[2], total / 1e9);
                // Server-side time of the Redis commands of this run (the scripts are EVALSHA).
                for (String line : redis.sync().info("commandstats").split("\r?\n")) {
                    if (line.matches("cmdstat_(evalsha|zrange|zrangestore|zremrangebyrank|unlink|set):.*")) {
                        System.out.println("  redis " + line);
                    }
                }
                redis.sync().configResetstat();
                redisStorage.flush().block();
            }
        } finally {
            redisStorage.close().block();
            redis.close();
            client.shutdown();
            pool.dispose();
        }
        System.exit(0);
    }

    /**
     * CPU seconds used so far by this JVM, by the Redis server ({@code INFO cpu}) and by the whole
     * machine ({@code /proc/stat}: user, nice, system, irq and softirq; NaN where there is none).
     */
    private static double[] cpuSeconds(StatefulRedisConnection<String, String> redis) {
        double jvm = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime() / 1e9;
        double server = 0;
        for (String line : redis.sync().info("cpu").split("\r?\n")) {
            if (line.startsWith("used_cpu_user:") || line.startsWith("used_cpu_sys:")) {
                server += Double.parseDouble(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        double machine = Double.NaN;
        try {
            String[] f = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long busy = 0;
            for (int i = 1; i < f.length && i <= 7; i++) {
                if (i != 4 && i != 5) {
                    busy += Long.parseLong(f[i]);
                }
            }
            machine = busy / 100.0;
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux: the machine's figure stays NaN
        }
        return new double[] {jvm, server, machine};
    }

    private void print(int run, int rows, int batch, int inFlight, long totalNanos) {
        long sum = nanos.values().stream().mapToLong(AtomicLong::get).sum();
        System.out.printf("%nrun %d: %,d rows in batches of %,d, %d in flight: %.2f s, %,.0f rows/s (phases sum %.2f s)%n",
                run, rows, batch, inFlight, totalNanos / 1e9, rows / (totalNanos / 1e9), sum / 1e9);
        int rounds = (rows + batch - 1) / batch;
        for (Phase phase : Phase.values()) {
            long n = nanos.get(phase).get();
            System.out.printf("  %-15s %8.2f s  %5.1f %%  %7.1f ms/batch%n", phase.label, n / 1e9, 100.0 * n / totalNanos,
                    n / 1e6 / rounds);
        }
    }

    private Source timed(Source source) {
        return new Source() {
            @Override
            public String name() {
                return source.name();
            }

            @Override
            public Flux<Chunk> read() {
                return source.read().doOnNext(c -> lap(Phase.FETCH_AND_BUILD));
            }

            @Override
            public Mono<Void> acknowledge(Ack ack) {
                lap(Phase.TO_ACK);
                return source.acknowledge(ack).doFinally(s -> lap(Phase.POST_SYNC));
            }

            @Override
            public Mono<Void> close() {
                return source.close();
            }
        };
    }

    private Sink timed(Sink sink) {
        return new Sink() {
            @Override
            public String name() {
                return sink.name();
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.defer(() -> {
                    lap(Phase.TO_SINK);
                    return sink.write(chunk).doOnSuccess(v -> lap(Phase.SINK_WRITE));
                });
            }

            @Override
            public Mono<Void> close() {
                return sink.close();
            }
        };
    }

    private OperationsStorage timed(OperationsStorage storage) {
        return new OperationsStorage() {
            @Override
            public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias,
                    Collection<String> pks) {
                return storage.registerOperations(importKey, type, dbAlias, pks);
            }

            @Override
            public Mono<Long> operationsCount(String importKey) {
                return storage.operationsCount(importKey);
            }

            @Override
            public Mono<SyncLease> preSync(String importKey) {
                return Mono.defer(() -> {
                    lap(Phase.BETWEEN);
                    return storage.preSync(importKey).doFinally(s -> lap(Phase.PRE_SYNC));
                });
            }

            @Override
            public Duration lockTimeout() {
                return storage.lockTimeout();
            }

            @Override
            public Mono<Void> renew(SyncLease lease) {
                return storage.renew(lease);
            }

            @Override
            public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
                return storage.getOperations(lease, count).doFinally(s -> lap(Phase.GET_OPERATIONS));
            }

            @Override
            public Mono<Long> postSync(OperationBatch batch) {
                return storage.postSync(batch);
            }

            @Override
            public Mono<Long> removeBatch(OperationBatch batch) {
                return storage.removeBatch(batch);
            }

            @Override
            public Mono<Void> postSyncFailed(SyncLease lease) {
                return storage.postSyncFailed(lease);
            }

            @Override
            public Mono<Instant> lastSyncTime(String importKey) {
                return storage.lastSyncTime(importKey);
            }

            @Override
            public Mono<Void> setLastSyncTime(String importKey, Instant time) {
                return storage.setLastSyncTime(importKey, time);
            }

            @Override
            public Mono<Void> flush() {
                return storage.flush();
            }

            @Override
            public Mono<Void> close() {
                return storage.close();
            }
        };
    }
}
