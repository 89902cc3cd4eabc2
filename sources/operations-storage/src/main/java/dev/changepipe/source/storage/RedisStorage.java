package dev.changepipe.source.storage;

import dev.changepipe.core.PipelineException;
import io.lettuce.core.KeyScanArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanStream;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.reactive.RedisClusterReactiveCommands;
import io.lettuce.core.codec.StringCodec;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * An {@link OperationsStorage} in Redis, on Lettuce's reactive API, with django-clickhouse's key
 * layout (see {@link StorageOptions#keyPrefix()}): a Django app that registers operations with
 * django-clickhouse's {@code RedisStorage} can hand its sync to this storage unchanged.
 *
 * <p><b>Where django-clickhouse loses data, this does not.</b> Every step that decides what to remove
 * is one Lua script, so it is atomic: a registration gives a queued member a strictly greater score
 * (never an equal one, from the server's clock); {@code postSync} removes a fetched member only if its
 * score is still the fetched one (not by rank through a shared rank key, which removed operations
 * registered meanwhile or, after an empty round, operations never fetched), and only if the lock
 * still holds the lease's fencing token (not after the lock expired and another worker took it).
 * Fetching is by rank over all scores, so an operation scored in the future by a skewed clock is
 * fetched in turn rather than waiting for that time.
 *
 * <p><b>Batches stay on the server.</b> A fetch copies the batch's members with their scores into a
 * key of its own ({@code <prefix>:batch:<import key>:<token>:<n>}, expiring with the lock) and sends
 * only the members; the removal compares the queue against that copy on the server. No score crosses
 * the wire or is printed as text.
 *
 * <p><b>Registration</b> is batched: concurrent calls are coalesced into one script call per import
 * key ({@link StorageOptions#maxRegistrationBatch()} pks at most, {@link
 * StorageOptions#maxRegistrationsInFlight()} calls under way), on one pipelined connection.
 *
 * <p><b>Redis Cluster</b>: with {@link StorageOptions#clusterMode()} the import key is a hash tag, so
 * every key of one import key lives in one slot and every script runs on one node.
 *
 * <p><b>Threading.</b> Safe for concurrent use; nothing blocks; results arrive on Lettuce's I/O
 * threads. Connection faults are retryable {@link PipelineException}s.
 */
public final class RedisStorage implements OperationsStorage {

    private static final Logger log = LoggerFactory.getLogger(RedisStorage.class);

    // KEYS[1] operations; ARGV: n1, members..., n2, members... -> one count of new members per group.
    // A queued member gets max(now, old + 1e-6): a re-registration always changes the score.
    static final RedisScript REGISTER = new RedisScript("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
            local key = KEYS[1]
            local res = {}
            local i = 1
            while i <= #ARGV do
              local n = tonumber(ARGV[i])
              local added = 0
              for j = i + 1, i + n do
                local m = ARGV[j]
                if redis.call('ZADD', key, 'NX', now, m) == 1 then
                  added = added + 1
                else
                  local old = tonumber(redis.call('ZSCORE', key, m))
                  local s = now
                  if old >= s then s = old + 0.000001 end
                  redis.call('ZADD', key, s, m)
                end
              end
              res[#res + 1] = added
              i = i + n + 1
            end
            return res
            """, ScriptOutputType.MULTI);

    // KEYS[1] lock, KEYS[2] fence; ARGV[1] ttl ms -> token, or 0 when the lock is held.
    static final RedisScript PRE_SYNC = new RedisScript("""
            if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
            local token = redis.call('INCR', KEYS[2])
            redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
            return token
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] the new batch, KEYS[4...] the lease's open batches;
    // ARGV[1] token, ARGV[2] count, ARGV[3] ttl ms -> the batch's size, or -1 when the lock is lost.
    // The batch is copied on the server (ZRANGESTORE keeps each member with its score, in binary): no
    // score is ever printed, sent or parsed (printing 10,000 doubles cost Redis 7.0 ten times the
    // ZRANGE itself), and the removal compares against exactly what was fetched. Open batches are
    // excluded by member: the first count + open ranks hold at least count others.
    static final RedisScript GET_OPERATIONS = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            local count = tonumber(ARGV[2])
            local open = 0
            for i = 4, #KEYS do open = open + redis.call('ZCARD', KEYS[i]) end
            local n = redis.call('ZRANGESTORE', KEYS[3], KEYS[1], 0, count + open - 1)
            if open > 0 and n > 0 then
              n = redis.call('ZDIFFSTORE', KEYS[3], #KEYS - 2, KEYS[3], unpack(KEYS, 4))
              if n > count then
                redis.call('ZREMRANGEBYRANK', KEYS[3], count, -1)
                n = count
              end
            end
            for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
            return n
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] the batch, KEYS[4] scratch, KEYS[5...] the lease's other
    // open batches; ARGV[1] token, ARGV[2] 1 to release the lock (0 to keep and renew it), ARGV[3] ttl
    // ms -> removed, or -1 when the lock is lost. ZINTERSTORE with weights 1, -1 gives each fetched
    // member still queued its current score minus the fetched one: exactly 0 where it did not change
    // (a re-registration always changes it). Those are removed; nothing is compared in Lua. The copies
    // are UNLINKed: Redis frees 10,000 members in a background thread, not in the script.
    static final RedisScript POST_SYNC = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            local removed = 0
            if redis.call('ZINTERSTORE', KEYS[4], 2, KEYS[1], KEYS[3], 'WEIGHTS', 1, -1) > 0 then
              redis.call('ZREMRANGEBYSCORE', KEYS[4], '(0', '+inf')
              redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(0')
              local m = redis.call('ZRANGE', KEYS[4], 0, -1)
              for i = 1, #m, 4000 do
                removed = removed + redis.call('ZREM', KEYS[1], unpack(m, i, math.min(i + 3999, #m)))
              end
              redis.call('UNLINK', KEYS[4])
            end
            redis.call('UNLINK', KEYS[3])
            if ARGV[2] == '1' then
              redis.call('DEL', KEYS[2])
              for i = 5, #KEYS do redis.call('UNLINK', KEYS[i]) end
            else
              redis.call('PEXPIRE', KEYS[2], ARGV[3])
              for i = 5, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
            end
            return removed
            """, ScriptOutputType.INTEGER);

    // KEYS[1] lock, KEYS[2...] the lease's open batches; ARGV[1] token -> 1 when released. The batch
    // copies are the lease's own (its token is in their names): they go either way.
    static final RedisScript RELEASE = new RedisScript("""
            for i = 2, #KEYS do redis.call('UNLINK', KEYS[i]) end
            if redis.call('GET', KEYS[1]) == ARGV[1] then
              redis.call('DEL', KEYS[1])
              return 1
            end
            return 0
            """, ScriptOutputType.INTEGER);

    private final StorageOptions options;
    private final Mono<RedisClusterReactiveCommands<String, String>> commands;
    private final Registrar registrar;
    /** The open batches of each lease this storage handed out and that has not ended (by batch key). */
    private final Map<SyncLease, List<String>> leases = new ConcurrentHashMap<>();
    private final AtomicLong batchNumbers = new AtomicLong();
    private final Mono<Void> closer;

    private RedisStorage(StorageOptions options, Mono<RedisClusterReactiveCommands<String, String>> commands,
            Mono<Void> closer) {
        this.options = Objects.requireNonNull(options, "options");
        this.commands = commands;
        this.closer = closer;
        this.registrar = new Registrar(commands, REGISTER, RedisStorage::redisError,
                options.maxRegistrationBatch(), options.maxRegistrationsInFlight());
    }

    /**
     * A storage on one Redis server (or a master behind Sentinel: any URI Lettuce accepts). Connects
     * lazily, on first use; a failed connection is tried again by the next call. {@link #close()}
     * closes the connection and the client this creates.
     */
    public static RedisStorage connect(String redisUri, StorageOptions options) {
        RedisClient client = RedisClient.create();
        RedisURI uri = RedisURI.create(redisUri);
        return create(options, Mono.fromCompletionStage(() -> client.connectAsync(StringCodec.UTF8, uri)),
                c -> c.reactive(), Mono.fromCompletionStage(client::shutdownAsync));
    }

    /**
     * A storage on a Redis Cluster, reached through any of its nodes. Use it with
     * {@link StorageOptions#clusterMode()} set, so that the keys of one import key share a slot.
     */
    public static RedisStorage connectCluster(List<String> seedUris, StorageOptions options) {
        if (!options.clusterMode()) {
            throw new IllegalArgumentException("clusterMode must be set for a Redis Cluster: without a hash tag the "
                    + "keys of one import key land in different slots");
        }
        List<RedisURI> seeds = seedUris.stream().map(RedisURI::create).toList();
        RedisClusterClient client = RedisClusterClient.create(seeds);
        return create(options, Mono.fromCompletionStage(() -> client.connectAsync(StringCodec.UTF8)),
                c -> c.reactive(), Mono.fromCompletionStage(client::shutdownAsync));
    }

    private static <C extends StatefulConnection<String, String>> RedisStorage create(StorageOptions options,
            Mono<C> connect, java.util.function.Function<C, RedisClusterReactiveCommands<String, String>> reactive,
            Mono<Void> shutdownClient) {
        Mono<C> connection = connect.cache(c -> Duration.ofMillis(Long.MAX_VALUE), e -> Duration.ZERO,
                () -> Duration.ZERO);
        Mono<RedisClusterReactiveCommands<String, String>> commands = connection.map(reactive)
                .onErrorMap(RedisStorage::redisError);
        Mono<Void> closer = connection.flatMap(c -> Mono.fromCompletionStage(c.closeAsync()))
                .onErrorResume(e -> {
                    log.debug("closing a connection that never opened: {}", e.toString());
                    return Mono.empty();
                })
                .then(shutdownClient);
        return new RedisStorage(options, commands, closer);
    }

    /** The options this storage was built with. */
    public StorageOptions options() {
        return options;
    }

    @Override
    public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias, Collection<String> pks) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            List<String> members = new ArrayList<>(pks.size());
            for (String pk : pks) {
                members.add(new Operation(type, dbAlias, pk).member());
            }
            return registrar.register(keys.operations(), members);
        });
    }

    @Override
    public Mono<Long> operationsCount(String importKey) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMap(c -> c.zcard(keys.operations())).onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<SyncLease> preSync(String importKey) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMapMany(c -> PRE_SYNC.<Long>run(c, new String[] {keys.lock(), keys.fence()},
                            Long.toString(options.lockTimeout().toMillis())))
                    .next()
                    .filter(token -> token > 0)
                    .map(token -> new SyncLease(importKey, token))
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
        return Mono.defer(() -> {
            if (count < 1) {
                return Mono.error(new IllegalArgumentException("count must be positive, was " + count));
            }
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            String batchKey = keys.batch(lease.token(), batchNumbers.incrementAndGet());
            List<String> open = openBatches(lease);
            String[] scriptKeys = scriptKeys(open, keys.operations(), keys.lock(), batchKey);
            return commands.flatMap(c -> GET_OPERATIONS.<Long>run(c, scriptKeys, Long.toString(lease.token()),
                                    Integer.toString(count), ttl())
                            .next()
                            .flatMap(size -> {
                                if (size < 0) {
                                    leases.remove(lease);
                                    return Mono.error(new LockLostException(lease));
                                }
                                if (size == 0) {
                                    return Mono.just(List.<String>of());
                                }
                                open.add(batchKey);
                                return c.zrange(batchKey, 0, -1).collectList();
                            }))
                    .map(members -> new OperationBatch(lease, parse(lease, members), batchKey))
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    private static List<Operation> parse(SyncLease lease, List<String> members) {
        List<Operation> operations = new ArrayList<>(members.size());
        for (String member : members) {
            try {
                operations.add(Operation.parse(member));
            } catch (IllegalArgumentException e) {
                // The batch's copy holds it all the same: its removal takes it out of the queue.
                log.warn("import key {}: skipping a member that is not an operation: {}", lease.importKey(),
                        e.getMessage());
            }
        }
        return operations;
    }

    @Override
    public Mono<Long> postSync(OperationBatch batch) {
        return remove(batch, true);
    }

    @Override
    public Mono<Long> removeBatch(OperationBatch batch) {
        return remove(batch, false);
    }

    private Mono<Long> remove(OperationBatch batch, boolean release) {
        return Mono.defer(() -> {
            SyncLease lease = batch.lease();
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            String batchKey = (String) batch.handle();
            List<String> open = openBatches(lease);
            List<String> others = new ArrayList<>(open);
            others.remove(batchKey);
            String[] scriptKeys = scriptKeys(others, keys.operations(), keys.lock(), batchKey, keys.scratch());
            return commands.flatMapMany(c -> POST_SYNC.<Long>run(c, scriptKeys, Long.toString(lease.token()),
                            release ? "1" : "0", ttl()))
                    .next()
                    .onErrorMap(RedisStorage::redisError)
                    .flatMap(removed -> {
                        if (removed < 0) {
                            leases.remove(lease);
                            return Mono.error(new LockLostException(lease));
                        }
                        if (release) {
                            leases.remove(lease);
                        } else {
                            open.remove(batchKey);
                        }
                        return Mono.just(removed);
                    });
        });
    }

    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            List<String> open = leases.remove(lease);
            String[] scriptKeys = scriptKeys(open == null ? List.of() : open, keys.lock());
            return commands.flatMapMany(c -> RELEASE.<Long>run(c, scriptKeys, Long.toString(lease.token())))
                    .then()
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /** A script's keys: the fixed ones, then the batch keys (a snapshot: the list may change meanwhile). */
    private static String[] scriptKeys(List<String> batchKeys, String... fixed) {
        String[] batches = batchKeys.toArray(new String[0]);
        String[] keys = Arrays.copyOf(fixed, fixed.length + batches.length);
        System.arraycopy(batches, 0, keys, fixed.length, batches.length);
        return keys;
    }

    /**
     * The keys of the lease's open batches, oldest first. A worker may fetch under a lease while it
     * removes an earlier batch; each call works on a copy of the list as it was, and what it misses is
     * harmless: a batch key already removed counts nothing and deletes nothing, and a batch created
     * meanwhile has its own fresh expiry (or expires by itself when the lease ended).
     */
    private List<String> openBatches(SyncLease lease) {
        return leases.computeIfAbsent(lease, l -> new java.util.concurrent.CopyOnWriteArrayList<>());
    }

    private String ttl() {
        return Long.toString(options.lockTimeout().toMillis());
    }

    @Override
    public Mono<Instant> lastSyncTime(String importKey) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMap(c -> c.get(keys.lastSync()))
                    .map(RedisStorage::parseSeconds)
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<Void> setLastSyncTime(String importKey, Instant time) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMap(c -> c.set(keys.lastSync(), formatSeconds(time))).then()
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /**
     * Deletes every key under the prefix except the fencing counters (so that a lease handed out before
     * the flush can never match a later lock).
     */
    @Override
    public Mono<Void> flush() {
        return Mono.defer(() -> {
            if (!options.allowFlush()) {
                return Mono.error(new IllegalStateException(
                        "flush refused: build the storage with StorageOptions.allowFlush(true) (tests only)"));
            }
            String fence = options.keyPrefix() + ":lock_fence:";
            return commands.flatMap(c -> ScanStream.scan(c, KeyScanArgs.Builder.matches(options.keyPrefix() + ":*")
                                    .limit(1000))
                            .filter(key -> !key.startsWith(fence))
                            .concatMap(c::del)
                            .then())
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<Void> close() {
        return closer;
    }

    static Throwable redisError(Throwable e) {
        if (e instanceof PipelineException || e instanceof IllegalArgumentException || e instanceof IllegalStateException) {
            return e;
        }
        return new PipelineException("redis: " + e.getMessage(), e, true);
    }

    /** Seconds since the epoch as django-clickhouse writes them ({@code dt.timestamp()}). */
    static Instant parseSeconds(String value) {
        BigDecimal seconds = new BigDecimal(value.trim());
        long whole = seconds.setScale(0, RoundingMode.FLOOR).longValueExact();
        long nanos = seconds.subtract(BigDecimal.valueOf(whole)).movePointRight(9).setScale(0, RoundingMode.HALF_UP)
                .longValueExact();
        return Instant.ofEpochSecond(whole, nanos);
    }

    static String formatSeconds(Instant time) {
        return BigDecimal.valueOf(time.getEpochSecond()).add(BigDecimal.valueOf(time.getNano(), 9))
                .setScale(6, RoundingMode.HALF_UP).toPlainString();
    }
}
