package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.SinkException;
import dev.changepipe.pusher.SyncPusher;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.r2dbc.pool.ConnectionPool;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;

/** The sync worker against real PostgreSQL (the storage in memory; RedisStorage has its own suite). */
@ExtendWith({PostgresServerExtension.class, RedisServerExtension.class})
class StorageSyncSourceIntegrationTest {

    private static final Duration T = Duration.ofSeconds(60);
    private final List<ConnectionPool> pools = new ArrayList<>();

    @AfterEach
    void dispose() {
        pools.forEach(ConnectionPool::dispose);
    }

    private ConnectionPool pool(PostgresServer pg, String db) {
        ConnectionPool pool = StorageSyncSource.pooledDatabase(pg.r2dbcUrl(db), 2);
        pools.add(pool);
        return pool;
    }

    private static Pipeline pipeline(StorageSyncSource source, RecordingSink sink) {
        return Pipeline.builder("sync-test").source(source).sink(sink).pusher(SyncPusher.factory())
                .meterRegistry(new SimpleMeterRegistry()).build();
    }

    private static String table(PostgresServer pg, String db) {
        pg.execute(db, "CREATE TABLE app_model (id bigint PRIMARY KEY, name text, amount numeric(10,2), "
                + "active boolean, ref uuid, created timestamp, seen timestamptz, tags text[], doc jsonb, small int)");
        return db;
    }

    @Test
    void deleteOpsAndVanishedRowsBecomeTombstonesAndRowsCarryTheirColumns(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_rows"));
        pg.execute(db, "INSERT INTO app_model VALUES (1, 'one', 1.50, true, '6f1c3bde-1f7e-4bde-9d6a-4f7d0c4f0a11', "
                + "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+00', '{a,b}', '{\"k\": 1}', 7), "
                + "(2, 'two', NULL, false, NULL, NULL, NULL, NULL, NULL, NULL)");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "1", "2", "3").block(T);
        storage.registerOperations("app.model", Operation.Type.DELETE, "2", "4").block(T);
        storage.registerOperations("app.model", Operation.Type.UPDATE, "not-a-number").block(T);
        pg.execute(db, "DELETE FROM app_model WHERE id = 2");
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", pool(pg, db)).untilEmpty(true).build());

        pipeline(source, sink).run().block(T);

        Map<Object, ChangeItem> state = sink.state();
        assertThat(state).containsOnlyKeys(1L, 2L, 3L, 4L);
        ChangeItem one = state.get(1L);
        assertThat(one.kind()).isEqualTo(ChangeItem.Kind.INSERT);
        assertThat(one.table()).isEqualTo("app.model");
        assertThat(one.key()).isEqualTo(Map.of("id", 1L));
        assertThat(one.values()).containsEntry("id", 1L).containsEntry("name", "one")
                .containsEntry("amount", new BigDecimal("1.50")).containsEntry("active", true)
                .containsEntry("ref", "6f1c3bde-1f7e-4bde-9d6a-4f7d0c4f0a11")
                .containsEntry("created", LocalDateTime.parse("2024-01-02T03:04:05.123456"))
                .containsEntry("tags", List.of("a", "b")).containsEntry("small", 7L);
        assertThat(one.values().get("seen")).isInstanceOf(OffsetDateTime.class);
        // a document, which the sinks write as such
        assertThat(one.values().get("doc")).isInstanceOf(dev.changepipe.core.JsonValue.class);
        assertThat(one.values().get("doc").toString()).contains("\"k\"");
        for (long gone : List.of(2L, 3L, 4L)) {
            assertThat(state.get(gone).kind()).isEqualTo(ChangeItem.Kind.DELETE);
            assertThat(state.get(gone).key()).isEqualTo(Map.of("id", gone));
        }
        assertThat(storage.operationsCount("app.model").block(T)).isZero();
        assertThat(storage.lastSyncTime("app.model").block(T)).isNotNull();
        // One chunk per batch, one version per batch.
        assertThat(sink.chunks).hasSize(1);
        assertThat(sink.items()).extracting(ChangeItem::version).containsOnly(one.version());
    }

    @Test
    void versionsStrictlyIncreaseAcrossBatchesWhenTheDataChanged(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_versions"));
        pg.execute(db, "INSERT INTO app_model (id, name) VALUES (1, 'a')");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        RecordingSink sink = new RecordingSink();
        ConnectionPool pool = pool(pg, db);
        List<Long> versions = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            pg.execute(db, "UPDATE app_model SET name = 'v" + i + "' WHERE id = 1");
            storage.registerOperations("app.model", Operation.Type.UPDATE, "1").block(T);
            StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                    .importKey(ImportKeyOptions.builder("app.model").build())
                    .database("default", pool).untilEmpty(true).build());
            pipeline(source, sink).run().block(T);
            ChangeItem last = sink.items().get(sink.items().size() - 1);
            assertThat(last.values()).containsEntry("name", "v" + i);
            versions.add(last.version());
        }
        assertThat(versions).isSorted().doesNotHaveDuplicates();
    }

    @Test
    void severalDatabaseAliasesAreFetchedFromTheirOwnDatabases(PostgresServer pg) {
        String main = table(pg, pg.createDatabase("sync_main"));
        String replica = table(pg, pg.createDatabase("sync_other"));
        pg.execute(main, "INSERT INTO app_model (id, name) VALUES (1, 'main')");
        pg.execute(replica, "INSERT INTO app_model (id, name) VALUES (1001, 'other')");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", List.of("1")).block(T);
        storage.registerOperations("app.model", Operation.Type.INSERT, "other", List.of("1001")).block(T);
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", pool(pg, main)).database("other", pool(pg, replica)).untilEmpty(true).build());
        pipeline(source, sink).run().block(T);
        assertThat(sink.state().get(1L).values()).containsEntry("name", "main");
        assertThat(sink.state().get(1001L).values()).containsEntry("name", "other");
    }

    @Test
    void oneFailingImportKeyDoesNotStopTheOthers(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_isolated"));
        pg.execute(db, "INSERT INTO app_model (id, name) VALUES (1, 'ok')");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "1").block(T);
        storage.registerOperations("app.missing", Operation.Type.INSERT, "1").block(T);
        storage.registerOperations("app.unknown_alias", Operation.Type.INSERT, "nowhere", List.of("1")).block(T);
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").delay(Duration.ofMillis(50)).build())
                .importKey(ImportKeyOptions.builder("app.missing").delay(Duration.ofMillis(50)).build())
                .importKey(ImportKeyOptions.builder("app.unknown_alias").table("app_model").delay(Duration.ofMillis(50)).build())
                .database("default", pool(pg, db)).build());
        Pipeline pipeline = pipeline(source, sink);
        Disposable run = pipeline.run().subscribe();
        try {
            await().atMost(T).until(() -> storage.operationsCount("app.model").block(T) == 0);
            assertThat(sink.state().get(1L).values()).containsEntry("name", "ok");
            assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.RUNNING);
        } finally {
            pipeline.stop();
            await().atMost(T).until(run::isDisposed);
        }
        // The failing keys keep everything and are not locked.
        assertThat(storage.operationsCount("app.missing").block(T)).isEqualTo(1);
        assertThat(storage.operationsCount("app.unknown_alias").block(T)).isEqualTo(1);
        assertThat(storage.preSync("app.missing").block(T)).isNotNull();
        assertThat(storage.preSync("app.unknown_alias").block(T)).isNotNull();
    }

    @Test
    void postSyncOnlyOnTheAcknowledgement(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_ack"));
        pg.execute(db, "INSERT INTO app_model (id, name) VALUES (1, 'x')");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "1").block(T);
        RecordingSink sink = new RecordingSink();
        sink.failWith = SinkException.permanent("recording", "app.model", null, "refused", null);
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", pool(pg, db)).untilEmpty(true).build());
        Pipeline pipeline = pipeline(source, sink);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> pipeline.run().block(T)).hasMessageContaining("refused");
        // Not acknowledged: still queued, and close() released the lock.
        assertThat(storage.operationsCount("app.model").block(T)).isEqualTo(1);
        assertThat(storage.lastSyncTime("app.model").blockOptional(T)).isEmpty();
        assertThat(storage.preSync("app.model").block(T)).isNotNull();
    }

    @Test
    void aQueueMemberThatIsNotAnOperationCostsOneDeadLetterAndNeverHoldsTheQueueUp(RedisServer redis,
            PostgresServer pg, @TempDir Path dir) {
        String db = table(pg, pg.createDatabase("sync_rejected"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 5) g");
        String prefix = "rejected" + UUID.randomUUID().toString().substring(0, 8);
        RedisStorage storage = RedisStorage.connect(redis.uri(), StorageOptions.builder().keyPrefix(prefix).build());
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            // written by something else than a registration, and first in line: the whole first batch
            c.sync().zadd(prefix + ":operations:app.model", 1.0, "upsert:default.1");
            c.sync().zadd(prefix + ":operations:app.model", 2.0, "garbage");
        } finally {
            client.shutdown();
        }
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", List.of("1", "2", "3", "4", "5"))
                .block(T);
        FileDeadLetterStore letters = FileDeadLetterStore.open(dir.resolve("letters.jsonl"), "sync-test",
                new SimpleMeterRegistry());
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").batchSize(2).build())
                .database("default", pool(pg, db)).untilEmpty(true).deadLetters(letters).build());
        try {
            pipeline(source, sink).run().block(T);
            assertThat(sink.state()).containsOnlyKeys(1L, 2L, 3L, 4L, 5L);
            assertThat(storage.operationsCount("app.model").block(T)).isZero();
            assertThat(letters.list()).extracting(DeadLetter::key)
                    .containsExactlyInAnyOrder("upsert:default.1", "garbage");
            assertThat(letters.list()).extracting(DeadLetter::cause).containsOnly("malformed");
            assertThat(letters.list()).extracting(DeadLetter::origin).containsOnly("app.model");
        } finally {
            storage.close().block(T);
            letters.close();
        }
    }

    @Test
    void aPkNoRowCanHaveCostsOneDeadLetterAndTheBatchGoesOn(PostgresServer pg, @TempDir Path dir) {
        String db = table(pg, pg.createDatabase("sync_bad_pk"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 3) g");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.UPDATE, "1", "x1", "2", "99999999999999999999", "3")
                .block(T);
        FileDeadLetterStore letters = FileDeadLetterStore.open(dir.resolve("letters.jsonl"), "sync-test",
                new SimpleMeterRegistry());
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", pool(pg, db)).untilEmpty(true).deadLetters(letters).build());
        try {
            pipeline(source, sink).run().block(T);
            assertThat(sink.state()).containsOnlyKeys(1L, 2L, 3L);
            assertThat(storage.operationsCount("app.model").block(T)).isZero();
            assertThat(letters.list()).extracting(DeadLetter::key)
                    .containsExactlyInAnyOrder("default.x1", "default.99999999999999999999");
            assertThat(letters.list()).extracting(DeadLetter::cause).containsOnly("malformed");
            assertThat(letters.list()).extracting(DeadLetter::reason)
                    .allMatch(reason -> reason.contains("is not a valid bigint for app_model.id"));
        } finally {
            letters.close();
        }
    }

    @Test
    void fullBatchesFollowEachOtherAndEachIsOneChunk(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_batches"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 250) g");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        List<String> pks = new ArrayList<>();
        for (int i = 1; i <= 250; i++) {
            pks.add(Integer.toString(i));
        }
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", pks).block(T);
        RecordingSink sink = new RecordingSink();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").batchSize(100).delay(Duration.ofSeconds(30)).build())
                .database("default", pool(pg, db)).untilEmpty(true).build());
        pipeline(source, sink).run().block(T);
        assertThat(sink.chunks).extracting(c -> c.items().size()).containsExactly(100, 100, 50);
        assertThat(sink.state()).hasSize(250);
    }

    @Test
    void theNextBatchIsFetchedWhileThePreviousIsWrittenAndNoMoreThanBatchesInFlight(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_ahead"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 500) g");
        CountingStorage storage = new CountingStorage(InMemoryStorage.create(StorageOptions.defaults()));
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", range(1, 500)).block(T);
        RecordingSink sink = new RecordingSink();
        java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
        sink.before = chunk -> chunk.offset().value() == 1 ? Mono.fromFuture(gate) : Mono.empty();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").batchSize(100).build())
                .database("default", pool(pg, db)).untilEmpty(true).batchesInFlight(2).build());
        Disposable run = pipeline(source, sink).run().subscribe();
        try {
            // The first write is held: the second batch is fetched meanwhile, a third is not.
            await().atMost(T).until(() -> storage.fetched.get() == 2);
            await().during(Duration.ofMillis(300)).atMost(T).until(() -> storage.fetched.get() == 2);
            assertThat(storage.removed.get()).isZero();
            gate.complete(null);
            await().atMost(T).until(run::isDisposed);
        } finally {
            run.dispose();
        }
        assertThat(sink.chunks).extracting(c -> c.offset().value()).containsExactly(1L, 2L, 3L, 4L, 5L);
        assertThat(sink.state()).hasSize(500);
        assertThat(storage.operationsCount("app.model").block(T)).isZero();
        assertThat(storage.preSync("app.model").block(T)).as("lock released").isNotNull();
    }

    @Test
    void batchesAfterAFailedWriteStayQueuedAndTheLockIsReleased(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_fail_second"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 250) g");
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", range(1, 250)).block(T);
        RecordingSink sink = new RecordingSink();
        sink.failWith = SinkException.permanent("recording", "app.model", null, "refused", null);
        sink.failFromChunk = 2;
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").batchSize(100).build())
                .database("default", pool(pg, db)).untilEmpty(true).build());
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> pipeline(source, sink).run().block(T))
                .hasMessageContaining("refused");
        // The first batch was written and removed; the second (fetched ahead, not written) and the rest stay.
        assertThat(sink.chunks).hasSize(1);
        assertThat(storage.operationsCount("app.model").block(T)).isEqualTo(150);
        SyncLease next = storage.preSync("app.model").block(T);
        assertThat(next).as("lock released").isNotNull();
        assertThat(storage.getOperations(next, 1000).block(T).size()).isEqualTo(150);
    }

    @Test
    void aRoundLongerThanTheLockTimeoutKeepsItsLeaseByRenewingIt(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_renew"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 150) g");
        Duration lockTimeout = Duration.ofSeconds(1);
        CountingStorage storage = new CountingStorage(InMemoryStorage.create(StorageOptions.builder()
                .lockTimeout(lockTimeout).build()));
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", range(1, 150)).block(T);
        RecordingSink sink = new RecordingSink();
        java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
        sink.before = chunk -> chunk.offset().value() == 1 ? Mono.fromFuture(gate) : Mono.empty();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").batchSize(100).build())
                .database("default", pool(pg, db)).untilEmpty(true).build());
        Disposable run = pipeline(source, sink).run().subscribe();
        try {
            // A slow write: the round outlasts its lock timeout many times and nobody can take the lock.
            await().atMost(T).until(() -> storage.fetched.get() == 2);
            await().during(lockTimeout.multipliedBy(3)).atMost(T)
                    .until(() -> storage.preSync("app.model").blockOptional(T).isEmpty());
            gate.complete(null);
            await().atMost(T).until(run::isDisposed);
        } finally {
            run.dispose();
        }
        // Each batch written once and removed under the one lease.
        assertThat(sink.chunks).extracting(c -> c.items().size()).containsExactly(100, 50);
        assertThat(storage.removed.get()).isEqualTo(2);
        assertThat(storage.operationsCount("app.model").block(T)).isZero();
    }

    @Test
    void aRoundWhoseLeaseIsFoundLostStopsAndRemovesNothing(PostgresServer pg) {
        String db = table(pg, pg.createDatabase("sync_lost"));
        pg.execute(db, "INSERT INTO app_model (id, name) SELECT g, 'n' || g FROM generate_series(1, 100) g");
        Duration lockTimeout = Duration.ofMillis(300);
        InMemoryStorageTest.MutableClock clock = new InMemoryStorageTest.MutableClock(java.time.Instant.now());
        CountingStorage storage = new CountingStorage(InMemoryStorage.create(StorageOptions.builder()
                .lockTimeout(lockTimeout).build(), clock));
        storage.registerOperations("app.model", Operation.Type.INSERT, "default", range(1, 100)).block(T);
        RecordingSink sink = new RecordingSink();
        java.util.concurrent.CompletableFuture<Void> gate = new java.util.concurrent.CompletableFuture<>();
        sink.before = chunk -> chunk.offset().value() == 1 ? Mono.fromFuture(gate) : Mono.empty();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                // The failed round is retried after the delay: long enough for the other worker to be first.
                .importKey(ImportKeyOptions.builder("app.model").batchSize(1000).delay(Duration.ofSeconds(2)).build())
                .database("default", pool(pg, db)).build());
        Pipeline pipeline = pipeline(source, sink);
        Disposable run = pipeline.run().subscribe();
        try {
            await().atMost(T).until(() -> storage.fetched.get() == 1);
            // The worker's lock expires (a pause longer than the lock timeout) and another worker takes it.
            clock.advance(lockTimeout.plusMillis(1));
            SyncLease other = storage.preSync("app.model").block(T);
            assertThat(other).isNotNull();
            // The next renewal finds the lease lost: the round ends, giving back nothing it does not own.
            await().atMost(T).until(() -> storage.failed.get() == 1);
            gate.complete(null);
            await().atMost(T).until(() -> sink.chunks.size() == 1);
            assertThat(storage.removed.get()).as("the batch written after its lease was lost").isZero();
            assertThat(storage.fetched.get()).isEqualTo(1);
            // The other worker has every operation.
            OperationBatch all = storage.getOperations(other, 1000).block(T);
            assertThat(all.size()).isEqualTo(100);
            storage.postSyncFailed(other).block(T);
            // And the first worker goes on once the lock is free.
            await().atMost(T).until(() -> storage.operationsCount("app.model").block(T) == 0);
            assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.RUNNING);
        } finally {
            pipeline.stop();
            await().atMost(T).until(run::isDisposed);
        }
    }

    private static List<String> range(int from, int to) {
        List<String> pks = new ArrayList<>();
        for (int i = from; i <= to; i++) {
            pks.add(Integer.toString(i));
        }
        return pks;
    }

    /** Counts fetches and removals of a storage. */
    private static final class CountingStorage implements OperationsStorage {
        final OperationsStorage delegate;
        final java.util.concurrent.atomic.AtomicInteger fetched = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger removed = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger failed = new java.util.concurrent.atomic.AtomicInteger();

        CountingStorage(OperationsStorage delegate) {
            this.delegate = delegate;
        }

        @Override
        public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias,
                java.util.Collection<String> pks) {
            return delegate.registerOperations(importKey, type, dbAlias, pks);
        }

        @Override
        public Mono<Long> operationsCount(String importKey) {
            return delegate.operationsCount(importKey);
        }

        @Override
        public Duration lockTimeout() {
            return delegate.lockTimeout();
        }

        @Override
        public Mono<SyncLease> preSync(String importKey) {
            return delegate.preSync(importKey);
        }

        @Override
        public Mono<Void> renew(SyncLease lease) {
            return delegate.renew(lease);
        }

        @Override
        public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
            return delegate.getOperations(lease, count).doOnNext(b -> fetched.incrementAndGet());
        }

        @Override
        public Mono<Long> postSync(OperationBatch batch) {
            return delegate.postSync(batch).doOnNext(n -> removed.incrementAndGet());
        }

        @Override
        public Mono<Long> removeBatch(OperationBatch batch) {
            return delegate.removeBatch(batch).doOnNext(n -> removed.incrementAndGet());
        }

        @Override
        public Mono<Void> postSyncFailed(SyncLease lease) {
            return delegate.postSyncFailed(lease).doOnSuccess(v -> failed.incrementAndGet());
        }

        @Override
        public Mono<java.time.Instant> lastSyncTime(String importKey) {
            return delegate.lastSyncTime(importKey);
        }

        @Override
        public Mono<Void> setLastSyncTime(String importKey, java.time.Instant time) {
            return delegate.setLastSyncTime(importKey, time);
        }

        @Override
        public Mono<Void> flush() {
            return delegate.flush();
        }
    }
}
