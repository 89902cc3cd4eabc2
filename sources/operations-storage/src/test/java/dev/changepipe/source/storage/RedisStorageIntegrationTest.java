package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.cluster.SlotHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;

/** The storage contract, and Redis specifics (layout, batching, cluster slots), against real Redis. */
@ExtendWith(RedisServerExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RedisStorageIntegrationTest implements OperationsStorageContract {

    private RedisServer server;
    private RedisClient client;
    private RedisCommands<String, String> redis;
    private final Map<OperationsStorage, String> prefixes = new ConcurrentHashMap<>();
    private final List<OperationsStorage> opened = new ArrayList<>();

    @BeforeAll
    void connect(RedisServer server) {
        this.server = server;
        client = RedisClient.create(server.uri());
        StatefulRedisConnection<String, String> c = client.connect();
        redis = c.sync();
    }

    @AfterAll
    void close() {
        opened.forEach(s -> s.close().block(TIMEOUT));
        client.shutdown();
    }

    private RedisStorage open(StorageOptions.Builder options) {
        String prefix = "t" + UUID.randomUUID().toString().substring(0, 8);
        RedisStorage s = RedisStorage.connect(server.uri(), options.keyPrefix(prefix).allowFlush(true).build());
        prefixes.put(s, prefix);
        opened.add(s);
        return s;
    }

    @Override
    public OperationsStorage storage() {
        return open(StorageOptions.builder());
    }

    @Override
    public void putWithScore(OperationsStorage storage, String importKey, String member, double score) {
        redis.zadd(RedisKeys.of(((RedisStorage) storage).options(), importKey).operations(), score, member);
    }

    @Override
    public void expireLock(OperationsStorage storage, String importKey) {
        String lock = RedisKeys.of(((RedisStorage) storage).options(), importKey).lock();
        redis.pexpire(lock, 1);
        await().atMost(Duration.ofSeconds(10)).until(() -> redis.exists(lock) == 0);
    }

    @Override
    public double nowSeconds(OperationsStorage storage) {
        List<String> t = redis.time();
        return Long.parseLong(t.get(0)) + Long.parseLong(t.get(1)) / 1e6;
    }

    @Override
    public Double scoreOf(OperationsStorage storage, String importKey, String member) {
        return redis.zscore(RedisKeys.of(((RedisStorage) storage).options(), importKey).operations(), member);
    }

    @Test
    void keysAndMembersFollowDjangoClickhouseLayout() {
        RedisStorage s = RedisStorage.connect(server.uri(), StorageOptions.builder()
                .lockTimeout(Duration.ofSeconds(7)).build());
        opened.add(s);
        String k = "layout_" + UUID.randomUUID().toString().substring(0, 8);
        s.registerOperations(k, Operation.Type.UPDATE, "replica", List.of("42")).block(TIMEOUT);
        double now = nowSeconds(s);
        List<ScoredValue<String>> members = redis.zrangeWithScores("clickhouse_sync:operations:" + k, 0, -1);
        assertThat(members).hasSize(1);
        assertThat(members.get(0).getValue()).isEqualTo("update:replica.42");
        assertThat(members.get(0).getScore()).isBetween(now - 5, now + 0.001);

        SyncLease lease = s.preSync(k).block(TIMEOUT);
        assertThat(redis.get("clickhouse_sync:lock:" + k)).isEqualTo(Long.toString(lease.token()));
        assertThat(redis.pttl("clickhouse_sync:lock:" + k)).isBetween(1L, 7000L);
        assertThat(redis.get("clickhouse_sync:lock_pid:" + k)).isEqualTo(Long.toString(ProcessHandle.current().pid()));
        assertThat(redis.pttl("clickhouse_sync:lock_pid:" + k)).isBetween(1L, 7000L);
        s.postSync(s.getOperations(lease, 10).block(TIMEOUT)).block(TIMEOUT);
        assertThat(redis.exists("clickhouse_sync:lock:" + k)).isZero();
        assertThat(redis.keys("clickhouse_sync:*" + k + "*")).containsExactlyInAnyOrder(
                "clickhouse_sync:lock_fence:" + k);

        s.setLastSyncTime(k, java.time.Instant.parse("2024-01-02T03:04:05.250Z")).block(TIMEOUT);
        assertThat(redis.get("clickhouse_sync:last_sync:" + k)).isEqualTo("1704164645.250000");
        redis.del("clickhouse_sync:operations:" + k, "clickhouse_sync:last_sync:" + k, "clickhouse_sync:lock_fence:" + k);
    }

    @Test
    void readsWhatDjangoClickhouseWrote() {
        RedisStorage s = open(StorageOptions.builder());
        String prefix = prefixes.get(s);
        // redis-py: zadd(key, {'insert:default.7': time.time()}), set(last_sync, dt.timestamp())
        redis.zadd(prefix + ":operations:app.model", 1700000000.123456, "insert:default.7");
        redis.set(prefix + ":last_sync:app.model", "1700000001.5");
        SyncLease lease = s.preSync("app.model").block(TIMEOUT);
        assertThat(s.getOperations(lease, 10).block(TIMEOUT).operations()).containsExactly(
                new Operation(Operation.Type.INSERT, "default", "7"));
        assertThat(s.lastSyncTime("app.model").block(TIMEOUT)).isEqualTo(java.time.Instant.parse("2023-11-14T22:13:21.500Z"));
    }

    @Test
    void memberWithoutAliasIsRemovedAsItWasStored() {
        RedisStorage s = open(StorageOptions.builder());
        String prefix = prefixes.get(s);
        // Code that registers bare pks writes "<op>:<pk>"; it is read with alias default and must be
        // removed under its own name, not as "<op>:default.<pk>".
        redis.zadd(prefix + ":operations:bare", 1700000000.123456, "update:42");
        SyncLease lease = s.preSync("bare").block(TIMEOUT);
        OperationBatch ops = s.getOperations(lease, 10).block(TIMEOUT);
        assertThat(ops.operations()).containsExactly(new Operation(Operation.Type.UPDATE, "default", "42"));
        assertThat(s.postSync(ops).block(TIMEOUT)).isEqualTo(1);
        assertThat(redis.zcard(prefix + ":operations:bare")).isZero();
    }

    @Test
    void aBatchMovesToAKeyOfItsOwnWithItsScoresAndNoExpiry() {
        RedisStorage s = open(StorageOptions.builder().lockTimeout(Duration.ofSeconds(30)));
        String prefix = prefixes.get(s);
        String queue = prefix + ":operations:move";
        s.registerOperations("move", Operation.Type.INSERT, "1", "2", "3").block(TIMEOUT);
        redis.zadd(queue, 1700000000.5, "insert:default.0");
        double score1 = redis.zscore(queue, "insert:default.1");
        SyncLease lease = s.preSync("move").block(TIMEOUT);
        redis.pexpire(prefix + ":lock:move", 5000);
        OperationBatch batch = s.getOperations(lease, 2).block(TIMEOUT);
        // The fetch renewed the lock; the batch left the queue for its own key, scores as stored, and
        // that key does not expire: a worker that dies leaves it for the next preSync.
        assertThat(redis.pttl(prefix + ":lock:move")).isGreaterThan(5000L);
        assertThat(redis.zrange(queue, 0, -1)).containsExactly("insert:default.2", "insert:default.3");
        String batchKey = prefix + ":batch:move:" + lease.token() + ":";
        List<String> batches = redis.keys(batchKey + "*");
        assertThat(batches).hasSize(1);
        assertThat(redis.smembers(prefix + ":batches:move")).containsExactlyElementsOf(batches);
        assertThat(redis.zrangeWithScores(batches.get(0), 0, -1)).extracting(ScoredValue::getValue, ScoredValue::getScore)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("insert:default.0", 1700000000.5),
                        org.assertj.core.groups.Tuple.tuple("insert:default.1", score1));
        assertThat(redis.pttl(batches.get(0))).isEqualTo(-1L);
        s.getOperations(lease, 2).block(TIMEOUT);
        assertThat(redis.keys(batchKey + "*")).hasSize(2);
        assertThat(s.removeBatch(batch).block(TIMEOUT)).isEqualTo(2);
        assertThat(redis.keys(batchKey + "*")).hasSize(1);
        // The failed round puts the other batch back, with the scores it had.
        s.postSyncFailed(lease).block(TIMEOUT);
        assertThat(redis.keys(prefix + ":batch*")).isEmpty();
        assertThat(redis.zrange(queue, 0, -1)).containsExactly("insert:default.2", "insert:default.3");
        assertThat(s.operationsCount("move").block(TIMEOUT)).isEqualTo(2);
    }

    @Test
    void lockPidHoldsThisProcesssPidAsDjangoClickhouseWritesItWhileTheLockIsHeldAndOnlyThen() {
        RedisStorage s = open(StorageOptions.builder().lockTimeout(Duration.ofSeconds(30)));
        RedisKeys keys = RedisKeys.of(s.options(), "pid");
        s.registerOperations("pid", Operation.Type.INSERT, "1", "2").block(TIMEOUT);
        assertThat(redis.exists(keys.lockPid())).isZero();
        SyncLease stale = s.preSync("pid").block(TIMEOUT);
        // django-clickhouse: pid = int(redis.get(lock_pid) or 0); os.kill(pid, 0) on its host.
        String pid = redis.get(keys.lockPid());
        assertThat(pid).matches("[1-9][0-9]*").isEqualTo(Long.toString(ProcessHandle.current().pid()));
        assertThat(ProcessHandle.of(Long.parseLong(pid))).isPresent();
        // It expires with the lock (a killed worker leaves no pid behind for ever), and is renewed with it.
        redis.pexpire(keys.lock(), 1000);
        redis.pexpire(keys.lockPid(), 1000);
        s.renew(stale).block(TIMEOUT);
        assertThat(redis.pttl(keys.lockPid())).isBetween(1001L, 30_000L);
        OperationBatch batch = s.getOperations(stale, 1).block(TIMEOUT);
        // A stale lease's release touches neither the new holder's lock nor its pid.
        expireLock(s, "pid");
        SyncLease taker = s.preSync("pid").block(TIMEOUT);
        redis.set(keys.lockPid(), "4242");
        redis.pexpire(keys.lockPid(), 30_000);
        s.postSyncFailed(stale).block(TIMEOUT);
        s.removeBatch(batch).as(reactor.test.StepVerifier::create).expectError(LockLostException.class).verify(TIMEOUT);
        assertThat(redis.get(keys.lockPid())).isEqualTo("4242");
        // Released: gone with the lock.
        s.postSync(s.getOperations(taker, 10).block(TIMEOUT)).block(TIMEOUT);
        assertThat(redis.exists(keys.lock(), keys.lockPid())).isZero();
    }

    @Test
    void aBatchBiggerThanOneStepIsFetchedWholeAndExactlyOnceAtMostAStepPerScriptCall() {
        RedisStorage s = open(StorageOptions.builder());
        RedisKeys keys = RedisKeys.of(s.options(), "steps");
        int n = 2 * RedisStorage.STEP + RedisStorage.STEP / 2;
        List<String> pks = java.util.stream.IntStream.range(0, n).mapToObj(Integer::toString).toList();
        s.registerOperations("steps_warm", Operation.Type.INSERT, "1").block(TIMEOUT);
        redis.configResetstat();
        s.registerOperations("steps", Operation.Type.INSERT, "default", pks).block(TIMEOUT);
        assertThat(commandCalls("evalsha") + commandCalls("eval")).as("registration script calls").isEqualTo(3);
        SyncLease lease = s.preSync("steps").block(TIMEOUT);
        OperationBatch batch = s.getOperations(lease, n + 100).block(TIMEOUT);
        assertThat(batch.operations()).extracting(Operation::pk).doesNotHaveDuplicates()
                .containsExactlyInAnyOrderElementsOf(pks);
        assertThat(redis.zcard(keys.operations())).isZero();
        // Each fetch step moved its members into a key of its own: at most STEP of them.
        java.util.Set<String> steps = redis.smembers(keys.batches());
        assertThat(steps).hasSize(3);
        assertThat(steps).allSatisfy(step -> assertThat(redis.zcard(step)).isBetween(1L, (long) RedisStorage.STEP));
        assertThat(steps.stream().mapToLong(redis::zcard).sum()).isEqualTo(n);
        assertThat(s.getOperations(lease, 10).block(TIMEOUT).isEmpty()).isTrue();
        // Put back (a failed round) in steps, then fetched again whole, once.
        s.postSyncFailed(lease).block(TIMEOUT);
        assertThat(redis.zcard(keys.operations())).isEqualTo(n);
        assertThat(redis.exists(keys.batches())).isZero();
        SyncLease next = s.preSync("steps").block(TIMEOUT);
        OperationBatch again = s.getOperations(next, n).block(TIMEOUT);
        assertThat(again.operations()).extracting(Operation::pk).doesNotHaveDuplicates().hasSize(n);
        assertThat(s.postSync(again).block(TIMEOUT)).isEqualTo(n);
        assertThat(s.operationsCount("steps").block(TIMEOUT)).isZero();
        assertThat(redis.keys(prefixes.get(s) + ":batch*")).isEmpty();
    }

    @Test
    void aWorkerStoppedBetweenStepsLosesNothing() {
        RedisStorage s = open(StorageOptions.builder().lockTimeout(Duration.ofSeconds(30)));
        RedisKeys keys = RedisKeys.of(s.options(), "crash");
        int n = 3 * RedisStorage.STEP;
        List<String> pks = java.util.stream.IntStream.range(0, n).mapToObj(i -> String.format("%05d", i)).toList();
        s.registerOperations("crash", Operation.Type.INSERT, "default", pks).block(TIMEOUT);
        List<String> inOrder = redis.zrange(keys.operations(), 0, -1);
        var c = client.connect().reactive();
        try {
            // A worker fetches one step of a batch and dies.
            SyncLease dead = s.preSync("crash").block(TIMEOUT);
            RedisStorage.FETCH_STEP.run(c, keys.scriptKeys(keys.batch(dead.token(), 1)), Long.toString(dead.token()),
                    "30000", Integer.toString(RedisStorage.STEP)).blockLast(TIMEOUT);
            assertThat(redis.zcard(keys.operations())).isEqualTo(n - RedisStorage.STEP);
            assertThat(s.operationsCount("crash").block(TIMEOUT)).isEqualTo(n);
            // The next worker takes over and is stopped after one step of putting that batch back.
            expireLock(s, "crash");
            long token = RedisStorage.PRE_SYNC.<Long>run(c, keys.scriptKeys(keys.fence(), keys.handedOver()), "30000", "1", "0").blockLast(TIMEOUT);
            RedisStorage.RESTORE_STEP.run(c, keys.scriptKeys(), Long.toString(token), "30000", "400").blockLast(TIMEOUT);
            assertThat(redis.zcard(keys.operations())).isEqualTo(n - RedisStorage.STEP + 400);
            assertThat(s.operationsCount("crash").block(TIMEOUT)).isEqualTo(n);
            // Cancelled at random moments of a fetch: whatever steps ran, everything is queued or listed.
            java.util.Random random = new java.util.Random(5);
            for (int i = 0; i < 10; i++) {
                expireLock(s, "crash");
                SyncLease lease = s.preSync("crash").block(TIMEOUT);
                s.getOperations(lease, n).timeout(Duration.ofMillis(random.nextInt(20)), reactor.core.publisher.Mono.empty())
                        .block(TIMEOUT);
                assertThat(s.operationsCount("crash").block(TIMEOUT)).isEqualTo(n);
            }
        } finally {
            c.getStatefulConnection().close();
        }
        expireLock(s, "crash");
        SyncLease last = s.preSync("crash").block(TIMEOUT);
        OperationBatch all = s.getOperations(last, 2 * n).block(TIMEOUT);
        // Every operation once, in the order of its first registration.
        assertThat(all.operations()).extracting(Operation::member).containsExactlyElementsOf(inOrder);
        assertThat(s.postSync(all).block(TIMEOUT)).isEqualTo(n);
        assertThat(s.operationsCount("crash").block(TIMEOUT)).isZero();
    }

    @Test
    void clusterModeKeepsEveryKeyOfAnImportKeyInOneSlot() {
        StorageOptions options = StorageOptions.builder().clusterMode(true).build();
        for (String k : List.of("app.model", "shop.order", "x")) {
            RedisKeys keys = RedisKeys.of(options, k);
            assertThat(keys.operations()).isEqualTo("clickhouse_sync:operations:{" + k + "}");
            int slot = SlotHash.getSlot(keys.operations());
            assertThat(List.of(keys.lock(), keys.lockPid(), keys.lastSync(), keys.fence(), keys.batch(7, 3),
                    keys.batches()))
                    .allSatisfy(key -> assertThat(SlotHash.getSlot(key)).isEqualTo(slot));
        }
    }

    @Test
    void registrationIsBatchedNeverOneRoundTripPerPk() {
        RedisStorage s = open(StorageOptions.builder());
        String k = "batched";
        redis.configResetstat();
        int calls = 5000;
        Flux.range(0, calls)
                .flatMap(i -> s.registerOperations(k, Operation.Type.INSERT, Integer.toString(i))
                        .subscribeOn(Schedulers.parallel()), 512)
                .then().block(TIMEOUT);
        assertThat(s.operationsCount(k).block(TIMEOUT)).isEqualTo(calls);
        long scriptCalls = commandCalls("evalsha") + commandCalls("eval");
        assertThat(scriptCalls).isLessThan(calls / 2);
    }

    private long commandCalls(String command) {
        String info = redis.info("commandstats");
        for (String line : info.split("\r?\n")) {
            if (line.startsWith("cmdstat_" + command + ":")) {
                // cmdstat_evalsha:calls=3,usec=...,rejected_calls=0,failed_calls=0
                return Long.parseLong(line.replaceAll("^[^:]*:calls=(\\d+),.*", "$1"));
            }
        }
        return 0;
    }

    @Test
    void scriptsAreReloadedAfterScriptFlush() {
        RedisStorage s = open(StorageOptions.builder());
        s.registerOperations("reload", Operation.Type.INSERT, "1").block(TIMEOUT);
        redis.scriptFlush();
        assertThat(s.registerOperations("reload", Operation.Type.INSERT, "2").block(TIMEOUT)).isEqualTo(1);
    }

    @Test
    void flushIsRefusedUnlessAllowed() {
        RedisStorage s = RedisStorage.connect(server.uri(), StorageOptions.builder().keyPrefix("noflush").build());
        opened.add(s);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> s.flush().block(TIMEOUT))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("allowFlush");
    }
}
