package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A worker in a child JVM holds an import key's lock in a round that never ends (its sink never
 * finishes a write) and is killed with SIGKILL. Its lease is renewed while it lives, however long the
 * round; once it is dead, the lock expires after the configured lock timeout and another worker takes
 * the import key over, with every operation: not after django-clickhouse's 50 s. While it holds the
 * lock, {@code lock_pid} holds its pid as django-clickhouse writes one.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class})
class StorageSyncTakeoverIntegrationTest {

    private static final Duration LOCK_TIMEOUT = Duration.ofSeconds(2);
    /** Scheduling on a loaded two-core machine; far below the 50 s of django-clickhouse's lock. */
    private static final Duration MARGIN = Duration.ofSeconds(5);
    private static final Duration T = Duration.ofSeconds(60);
    private static final Logger log = LoggerFactory.getLogger(StorageSyncTakeoverIntegrationTest.class);

    @Test
    void aWorkerKilledWhileHoldingTheLockIsTakenOverOnceItsLeaseExpiresNotAfter50s(RedisServer redis,
            PostgresServer pg) throws Exception {
        String pgDb = pg.createDatabase("takeover");
        pg.execute(pgDb, EndToEnd.PG_TABLE);
        String prefix = "takeover" + UUID.randomUUID().toString().substring(0, 8);
        RedisStorage storage = RedisStorage.connect(redis.uri(), StorageOptions.builder().keyPrefix(prefix)
                .lockTimeout(LOCK_TIMEOUT).build());
        RedisKeys keys = RedisKeys.of(storage.options(), EndToEnd.IMPORT_KEY);
        RedisClient client = RedisClient.create(redis.uri());
        RedisCommands<String, String> r = client.connect().sync();
        List<String> pks = IntStream.rangeClosed(1, 300).mapToObj(Integer::toString).toList();
        storage.registerOperations(EndToEnd.IMPORT_KEY, Operation.Type.UPDATE, "default", pks).block(T);
        Process first = worker(redis, prefix, pg.r2dbcUrl(pgDb));
        Process second = null;
        try {
            // The first worker holds the lock: django-clickhouse's lock_pid names it.
            await().atMost(T).until(() -> Long.toString(first.pid()).equals(r.get(keys.lockPid())));
            String token = r.get(keys.lock());
            assertThat(token).isNotNull();
            await().atMost(T).until(() -> r.zcard(keys.operations()) == 0);
            // Its round outlasts the lock timeout: it keeps the lease by renewing it.
            await().during(LOCK_TIMEOUT.multipliedBy(2)).atMost(T)
                    .until(() -> token.equals(r.get(keys.lock())) && Long.toString(first.pid()).equals(r.get(keys.lockPid())));

            first.destroyForcibly().waitFor();
            long killed = System.nanoTime();
            // A restarted worker: it finds the dead worker's lock and takes over once that expired.
            second = worker(redis, prefix, pg.r2dbcUrl(pgDb));
            Process restarted = second;
            await().atMost(LOCK_TIMEOUT.plus(MARGIN).plus(Duration.ofNanos(System.nanoTime() - killed)))
                    .until(() -> Long.toString(restarted.pid()).equals(r.get(keys.lockPid())));
            log.info("taken over {} ms after the kill (lock timeout {})",
                    Duration.ofNanos(System.nanoTime() - killed).toMillis(), LOCK_TIMEOUT);
            assertThat(Long.parseLong(r.get(keys.lock()))).isGreaterThan(Long.parseLong(token));
            // With every operation: the dead worker's batch was put back, and the new one holds it all.
            await().atMost(T).until(() -> r.zcard(keys.operations()) == 0);
            assertThat(storage.operationsCount(EndToEnd.IMPORT_KEY).block(T)).isEqualTo(pks.size());

            second.destroyForcibly().waitFor();
            // Without a restart: another worker takes over within the lock timeout, not after 50 s.
            long killedAgain = System.nanoTime();
            SyncLease[] lease = new SyncLease[1];
            await().atMost(LOCK_TIMEOUT.plus(MARGIN))
                    .until(() -> (lease[0] = storage.preSync(EndToEnd.IMPORT_KEY).block(T)) != null);
            log.info("lease taken {} ms after the second kill", Duration.ofNanos(System.nanoTime() - killedAgain).toMillis());
            OperationBatch all = storage.getOperations(lease[0], 1000).block(T);
            assertThat(all.operations()).extracting(Operation::pk).containsExactlyInAnyOrderElementsOf(pks);
            assertThat(storage.postSync(all).block(T)).isEqualTo(pks.size());
            assertThat(r.exists(keys.lock(), keys.lockPid())).isZero();
        } finally {
            first.destroyForcibly().waitFor();
            if (second != null) {
                second.destroyForcibly().waitFor();
            }
            client.shutdown();
            storage.close().block(T);
        }
    }

    private static Process worker(RedisServer redis, String prefix, String pgUrl) throws Exception {
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                StalledWorkerMain.class.getName(), redis.uri(), prefix, pgUrl, Long.toString(LOCK_TIMEOUT.toMillis()))
                .redirectError(ProcessBuilder.Redirect.appendTo(new java.io.File("target/takeover-workers.log")))
                .start();
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        assertThat(out.readLine()).isEqualTo("started");
        return child;
    }
}
