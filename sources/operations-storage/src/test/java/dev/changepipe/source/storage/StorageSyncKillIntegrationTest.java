package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Pipeline;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.r2dbc.pool.ConnectionPool;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Sync workers in a child JVM are killed with SIGKILL at random moments (mid-fetch, mid-write to
 * ClickHouse, between the write and the removal) while applications keep changing rows and
 * registering operations. After a final drain, ClickHouse equals PostgreSQL exactly: a killed worker
 * loses nothing, its operations stay queued until its lock expires and a later round syncs them.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class StorageSyncKillIntegrationTest {

    static final Duration LOCK_TIMEOUT = Duration.ofMillis(1500);
    private static final Duration T = Duration.ofSeconds(120);
    private static final Logger log = LoggerFactory.getLogger(StorageSyncKillIntegrationTest.class);

    @Test
    void workersKilledAtRandomMomentsLoseNothing(RedisServer redis, PostgresServer pg, ClickHouseServer ch) throws Exception {
        String pgDb = pg.createDatabase("kill");
        pg.execute(pgDb, EndToEnd.PG_TABLE);
        String chDb = ch.createDatabase("kill");
        ch.execute(EndToEnd.clickHouseTable(chDb));
        String prefix = "kill" + UUID.randomUUID().toString().substring(0, 8);
        RedisStorage storage = RedisStorage.connect(redis.uri(), StorageOptions.builder().keyPrefix(prefix)
                .lockTimeout(LOCK_TIMEOUT).build());
        ConnectionPool appPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 4);
        AtomicBoolean running = new AtomicBoolean(true);
        Mono<Long> writers = EndToEnd.writers(appPool, storage, 11, 4, running, Long.MAX_VALUE, Duration.ofMillis(3))
                .subscribeOn(Schedulers.boundedElastic()).cache();
        writers.subscribe();
        Random random = new Random(3);
        int kills = 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        // On a slow machine a worker may need seconds to start and wait out its predecessor's lock: the
        // kills go on (up to a minute more) until there were 5 and the workers had synced something.
        long lastChance = deadline + TimeUnit.SECONDS.toNanos(60);
        long syncedBeforeKill = 0;
        try {
            while ((System.nanoTime() < deadline || kills < 5 || syncedBeforeKill == 0)
                    && System.nanoTime() < lastChance) {
                Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), SyncWorkerMain.class.getName(),
                        redis.uri(), prefix, pg.r2dbcUrl(pgDb), ch.httpUrl(), chDb)
                        .redirectError(ProcessBuilder.Redirect.appendTo(new java.io.File("target/kill-workers.log")))
                        .start();
                try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    assertThat(out.readLine()).isEqualTo("started");
                    // Let it work for a random while (the first rounds wait for the previous lock to expire).
                    boolean exited = child.waitFor(1000 + random.nextInt(3000), TimeUnit.MILLISECONDS);
                    assertThat(exited).as("worker still running when killed").isFalse();
                } finally {
                    child.destroyForcibly().waitFor();
                }
                kills++;
                syncedBeforeKill = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".app_model").trim());
                log.info("killed worker {}; queued {}, {} rows in ClickHouse", kills,
                        storage.operationsCount(EndToEnd.IMPORT_KEY).block(T), syncedBeforeKill);
            }
        } finally {
            running.set(false);
        }
        long operations = writers.block(T);
        assertThat(kills).isGreaterThanOrEqualTo(5);
        assertThat(operations).isGreaterThan(500);
        long queued = storage.operationsCount(EndToEnd.IMPORT_KEY).block(T);
        long synced = Long.parseLong(ch.execute("SELECT count() FROM " + chDb + ".app_model").trim());
        log.info("{} operations by applications, {} kills, {} queued and {} rows in ClickHouse before the final drain",
                operations, kills, queued, synced);
        assertThat(synced).as("the killed workers were syncing").isGreaterThan(0);

        // Final drain: waits for the last killed worker's lock to expire, then empties the queue.
        ConnectionPool workerPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 2);
        try {
            Pipeline drain = EndToEnd.pipeline("drain", storage, workerPool, ch.httpUrl(), chDb, true, 1000,
                    Duration.ofMillis(50));
            try {
                drain.run().block(T);
            } catch (IllegalStateException timeout) {
                // Seen once in CI (1 run in about 25): the drain neither finished nor failed. Leave what
                // tells where it waits before failing.
                log.error("final drain did not finish within {}.\nRedis: {}\nClickHouse queries: {}\nPostgreSQL "
                        + "sessions: {}\nThreads:\n{}", T, redisKeys(redis, prefix),
                        ch.execute("SELECT query_id, elapsed, substring(query, 1, 120) FROM system.processes"),
                        pg.execute(pgDb, "SELECT pid, state, wait_event, left(query, 120) FROM pg_stat_activity "
                                + "WHERE datname = current_database()"), threadDump());
                throw timeout;
            }
            assertThat(storage.operationsCount(EndToEnd.IMPORT_KEY).block(T)).isZero();
            EndToEnd.assertClickHouseEqualsPostgres(pg, pgDb, ch, chDb);
        } finally {
            workerPool.dispose();
            appPool.dispose();
            storage.close().block(T);
        }
    }

    /** Each key under the prefix with its type, size and time to live. */
    private static String redisKeys(RedisServer redis, String prefix) {
        io.lettuce.core.RedisClient client = io.lettuce.core.RedisClient.create(redis.uri());
        try (var connection = client.connect()) {
            var c = connection.sync();
            StringBuilder out = new StringBuilder();
            for (String key : c.keys(prefix + ":*")) {
                String type = c.type(key);
                long size = switch (type) {
                    case "zset" -> c.zcard(key);
                    case "set" -> c.scard(key);
                    default -> -1;
                };
                out.append("\n  ").append(key).append(' ').append(type).append(" size ").append(size)
                        .append(" pttl ").append(c.pttl(key));
            }
            return out.toString();
        } finally {
            client.shutdown();
        }
    }

    private static String threadDump() {
        StringBuilder out = new StringBuilder();
        for (java.lang.management.ThreadInfo t : java.lang.management.ManagementFactory.getThreadMXBean()
                .dumpAllThreads(true, true)) {
            out.append('"').append(t.getThreadName()).append("\" ").append(t.getThreadState()).append('\n');
            for (StackTraceElement frame : t.getStackTrace()) {
                out.append("    at ").append(frame).append('\n');
            }
        }
        return out.toString();
    }
}
