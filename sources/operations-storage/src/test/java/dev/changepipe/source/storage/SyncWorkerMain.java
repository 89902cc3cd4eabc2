package dev.changepipe.source.storage;

import dev.changepipe.core.Pipeline;
import io.r2dbc.pool.ConnectionPool;
import java.time.Duration;

/**
 * A sync worker in its own JVM, for the kill test: runs until it is killed.
 * Arguments: redis URI, key prefix, PostgreSQL R2DBC URL, ClickHouse HTTP URL, ClickHouse database.
 */
public final class SyncWorkerMain {

    private SyncWorkerMain() {
    }

    public static void main(String[] args) {
        // stdout only signals the start (the parent reads nothing more from it); logs go to stderr.
        java.io.PrintStream signal = System.out;
        System.setOut(System.err);
        RedisStorage storage = RedisStorage.connect(args[0], StorageOptions.builder().keyPrefix(args[1])
                .lockTimeout(StorageSyncKillIntegrationTest.LOCK_TIMEOUT).build());
        ConnectionPool pg = StorageSyncSource.pooledDatabase(args[2], 2);
        Pipeline pipeline = EndToEnd.pipeline("worker", storage, pg, args[3], args[4], false, 500, Duration.ofMillis(10));
        signal.println("started");
        signal.flush();
        pipeline.run().block();
    }
}
