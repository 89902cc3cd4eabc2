package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;

import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryMetadata;
import io.r2dbc.spi.R2dbcNonTransientResourceException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.test.StepVerifier;

/** The worker's retry and delay schedule, in virtual time (the database is a fake that is down). */
class StorageSyncSourceTest {

    /** A database that refuses every connection, counting the attempts. */
    static final class DownDatabase implements ConnectionFactory {
        final AtomicInteger attempts = new AtomicInteger();

        @Override
        public Mono<io.r2dbc.spi.Connection> create() {
            return Mono.defer(() -> {
                attempts.incrementAndGet();
                return Mono.error(new R2dbcNonTransientResourceException("connection refused"));
            });
        }

        @Override
        public ConnectionFactoryMetadata getMetadata() {
            return () -> "down";
        }
    }

    @Test
    void failedRoundReleasesTheLockKeepsEverythingAndIsRetriedWithDoublingPauses() {
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "1").block();
        DownDatabase db = new DownDatabase();
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").delay(Duration.ofSeconds(1)).build())
                .database("default", db).maxRetryDelay(Duration.ofSeconds(4)).build());

        StepVerifier.withVirtualTime(source::read)
                .expectSubscription()
                .then(() -> assertThat(db.attempts).hasValue(1))
                .then(() -> assertThat(storage.preSync("app.model").block()).as("lock released").isNotNull())
                .then(() -> storage.postSyncFailed(new SyncLease("app.model", 2)).block())
                .thenAwait(Duration.ofMillis(999))
                .then(() -> assertThat(db.attempts).hasValue(1))
                .thenAwait(Duration.ofMillis(1))
                .then(() -> assertThat(db.attempts).hasValue(2))
                .thenAwait(Duration.ofSeconds(2))
                .then(() -> assertThat(db.attempts).hasValue(3))
                .thenAwait(Duration.ofSeconds(4))
                .then(() -> assertThat(db.attempts).hasValue(4))
                .thenAwait(Duration.ofSeconds(4))
                .then(() -> assertThat(db.attempts).as("capped at maxRetryDelay").hasValue(5))
                .thenCancel()
                .verify(Duration.ofSeconds(10));
        assertThat(storage.operationsCount("app.model").block()).isEqualTo(1);
    }

    @Test
    void emptyQueueIsPolledEveryDelayAndLastSyncTimeRecorded() {
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", new DownDatabase()).build());
        StepVerifier.withVirtualTime(source::read)
                .expectSubscription()
                .then(() -> assertThat(storage.lastSyncTime("app.model").block()).isNotNull())
                .then(() -> storage.registerOperations("app.model", Operation.Type.INSERT, "1").block())
                .thenAwait(ImportKeyOptions.DEFAULT_DELAY.minusMillis(1))
                .then(() -> assertThat(storage.operationsCount("app.model").block()).isEqualTo(1))
                .thenCancel()
                .verify(Duration.ofSeconds(10));
    }

    @Test
    void untilEmptyCompletesOnceEveryKeyFoundItsQueueEmpty() {
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("a.one").build())
                .importKey(ImportKeyOptions.builder("a.two").build())
                .database("default", new DownDatabase()).untilEmpty(true).build());
        StepVerifier.create(source.read()).verifyComplete();
    }

    /**
     * A stop that cancels a round while Redis is still answering its lock request: {@code close()}
     * completes only once that lock was taken and given back, so a process that exits after close
     * leaves no lock behind to expire (a handover right after a stop found it held).
     */
    @Test
    void aStopWhileARoundTakesItsLockGivesTheLockBackBeforeCloseCompletes() throws Exception {
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.defaults());
        storage.registerOperations("app.model", Operation.Type.INSERT, "1").block();
        Sinks.Empty<Void> redisAnswers = Sinks.empty();
        CountDownLatch asked = new CountDownLatch(1);
        OperationsStorage slowLock = (OperationsStorage) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {OperationsStorage.class}, (proxy, method, args) -> {
                    try {
                        Object result = method.invoke(storage, args);
                        if (method.getName().equals("preSync")) {
                            asked.countDown();
                            return redisAnswers.asMono().then((Mono<?>) result);
                        }
                        return result;
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        StorageSyncSource source = StorageSyncSource.create(slowLock, StorageSyncOptions.builder()
                .importKey(ImportKeyOptions.builder("app.model").build())
                .database("default", new DownDatabase()).build());
        Disposable reading = source.read().subscribe();
        assertThat(asked.await(10, TimeUnit.SECONDS)).isTrue();
        reading.dispose();
        CompletableFuture<Void> closed = source.close().toFuture();
        assertThat(closed).as("close waits for the lock being taken").isNotDone();
        redisAnswers.tryEmitEmpty();
        closed.get(10, TimeUnit.SECONDS);
        assertThat(storage.preSync("app.model").block()).as("the lock was given back").isNotNull();
        assertThat(storage.operationsCount("app.model").block()).isEqualTo(1);
    }
}
