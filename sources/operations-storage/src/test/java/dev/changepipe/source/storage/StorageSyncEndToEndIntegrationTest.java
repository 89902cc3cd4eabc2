package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Pipeline;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.r2dbc.pool.ConnectionPool;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.core.Disposable;

/**
 * End to end against real Redis, PostgreSQL and ClickHouse: rows created, updated and deleted while
 * their operations are registered concurrently and a worker syncs them; after the queue drains,
 * ClickHouse ({@code FINAL}, not deleted) equals PostgreSQL.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class StorageSyncEndToEndIntegrationTest {

    private static final Duration T = Duration.ofSeconds(120);

    @Test
    void clickHouseEqualsPostgresAfterConcurrentChangesDrain(RedisServer redis, PostgresServer pg, ClickHouseServer ch) {
        String pgDb = pg.createDatabase("e2e");
        pg.execute(pgDb, EndToEnd.PG_TABLE);
        String chDb = ch.createDatabase("e2e");
        ch.execute(EndToEnd.clickHouseTable(chDb));
        RedisStorage storage = RedisStorage.connect(redis.uri(), StorageOptions.builder()
                .keyPrefix("e2e" + UUID.randomUUID().toString().substring(0, 8)).build());
        ConnectionPool appPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 8);
        ConnectionPool workerPool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(pgDb), 2);
        Pipeline worker = EndToEnd.pipeline("e2e", storage, workerPool, ch.httpUrl(), chDb, false, 300,
                Duration.ofMillis(20));
        Disposable run = worker.run().subscribe();
        try {
            long done = EndToEnd.writers(appPool, storage, 7, 8, new AtomicBoolean(true), 4000).block(T);
            assertThat(done).isGreaterThan(3000);
            await().atMost(T).pollInterval(Duration.ofMillis(50))
                    .until(() -> storage.operationsCount(EndToEnd.IMPORT_KEY).block(T) == 0);
            assertThat(worker.status().state()).isEqualTo(Pipeline.State.RUNNING);
            EndToEnd.assertClickHouseEqualsPostgres(pg, pgDb, ch, chDb);
        } finally {
            worker.stop();
            await().atMost(T).until(run::isDisposed);
            appPool.dispose();
            workerPool.dispose();
            storage.close().block(T);
        }
    }
}
