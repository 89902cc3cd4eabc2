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
import io.lettuce.core.resource.ClientResources;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * An {@link OperationsStorage} in Redis, on Lettuce's reactive API, with django-clickhouse's key
 * layout (see {@link StorageOptions#keyPrefix()}): a Django app that registers operations with
 * django-clickhouse's {@code RedisStorage} can hand its sync to this storage unchanged.
 *
 * <p><b>Where django-clickhouse loses data, this does not.</b> Every step is one Lua script, so it is
 * atomic, and checks the lease's fencing token first: a worker whose lock expired (and was perhaps
 * taken by another worker) fetches and removes nothing, whatever it believes. A fetch <em>moves</em>
 * the batch out of the queue into a key of its own ({@code <prefix>:batch:<import key>:<token>:<n>},
 * listed in the set {@code <prefix>:batches:<import key>}); the removal deletes that key and nothing
 * else. So an operation registered again while its batch is being synced is queued anew and synced
 * again (django-clickhouse removed by score or by rank through a shared rank key, which removed such
 * operations, and after an empty round operations never fetched). A batch whose worker failed, died or
 * lost its lock goes back into the queue, with its scores: on {@code postSyncFailed}, or at the next
 * {@code preSync}. Fetching is by rank over all scores, so an operation scored in the future by a
 * skewed clock is fetched in turn rather than waiting for that time.
 *
 * <p><b>A sync prints and parses no score.</b> The move is {@code ZRANGESTORE} plus
 * {@code ZREMRANGEBYRANK}, both binary and linear in the batch; only the members cross the wire, in one
 * {@code ZRANGE}; the removal is an {@code UNLINK}. Printing 10,000 scores as text cost Redis 7.0
 * about ten times the range itself; only putting a batch back into the queue, after a failure, does.
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
    // ZADD NX: a member still queued keeps its score, its place in line (its row is read when it is
    // fetched, so a later change is synced with it; a row changed all the time is not pushed back
    // forever). A member being synced is not queued: registered again, it is queued anew.
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
                added = added + redis.call('ZADD', key, 'NX', now, ARGV[j])
              end
              res[#res + 1] = added
              i = i + n + 1
            end
            return res
            """, ScriptOutputType.MULTI);

    // Puts the members of every batch named in KEYS[3] (the set of batches being synced) back into
    // KEYS[1] (the queue) with their scores, or the queued score where lower (ZADD LT adds the missing
    // ones and keeps the earlier place of one registered again meanwhile), and deletes the batches.
    // The batch keys come from the set, not from KEYS: they share the import key's hash tag, so in a
    // cluster they are in the same slot. Only on a failure or a takeover; 10,000 members cost ~30 ms.
    private static final String RESTORE_BATCHES = """
            local function restore_batches()
              for _, b in ipairs(redis.call('SMEMBERS', KEYS[3])) do
                local r = redis.call('ZRANGE', b, 0, -1, 'WITHSCORES')
                local args = {}
                for i = 1, #r, 2 do
                  args[#args + 1] = r[i + 1]
                  args[#args + 1] = r[i]
                  if #args == 2000 then
                    redis.call('ZADD', KEYS[1], 'LT', unpack(args))
                    args = {}
                  end
                end
                if #args > 0 then redis.call('ZADD', KEYS[1], 'LT', unpack(args)) end
                redis.call('UNLINK', b)
              end
              redis.call('DEL', KEYS[3])
            end
            """;

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] batches, KEYS[4] fence; ARGV[1] ttl ms -> token, or 0
    // when the lock is held. Batches left by an earlier lease (its worker died or lost the lock) are
    // queued again first: nobody else can be syncing them now.
    static final RedisScript PRE_SYNC = new RedisScript(RESTORE_BATCHES + """
            if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
            restore_batches()
            local token = redis.call('INCR', KEYS[4])
            redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
            return token
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] batches, KEYS[4] the new batch; ARGV[1] token, ARGV[2]
    // count, ARGV[3] ttl ms -> the batch's size, or -1 when the lock is lost. The batch moves out of
    // the queue into a key of its own, on the server (ZRANGESTORE keeps each member with its score,
    // in binary; ZREMRANGEBYRANK removes a range of ranks without naming a member): no score is
    // printed, sent or parsed, and later fetches take the next ones. The batch key has no expiry: it
    // holds its operations until the batch is removed or queued again.
    static final RedisScript GET_OPERATIONS = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            local n = redis.call('ZRANGESTORE', KEYS[4], KEYS[1], 0, tonumber(ARGV[2]) - 1)
            if n > 0 then
              redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
              redis.call('SADD', KEYS[3], KEYS[4])
            end
            redis.call('PEXPIRE', KEYS[2], ARGV[3])
            return n
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] batches, KEYS[4] the batch; ARGV[1] token, ARGV[2] 1 to
    // release the lock (0 to keep and renew it), ARGV[3] ttl ms -> the batch's size, or -1 when the
    // lock is lost. The batch is deleted (UNLINK: Redis frees it in a background thread); on release,
    // the lease's other batches are queued again.
    static final RedisScript REMOVE_BATCH = new RedisScript(RESTORE_BATCHES + """
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            local n = 0
            if redis.call('SREM', KEYS[3], KEYS[4]) == 1 then
              n = redis.call('ZCARD', KEYS[4])
              redis.call('UNLINK', KEYS[4])
            end
            if ARGV[2] == '1' then
              restore_batches()
              redis.call('DEL', KEYS[2])
            else
              redis.call('PEXPIRE', KEYS[2], ARGV[3])
            end
            return n
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[2] lock, KEYS[3] batches; ARGV[1] token -> 1 when released. A lease
    // that lost its lock touches nothing: its batches are queued again by the next preSync.
    static final RedisScript RELEASE = new RedisScript(RESTORE_BATCHES + """
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
            restore_batches()
            redis.call('DEL', KEYS[2])
            return 1
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[3] batches -> queued plus being synced.
    static final RedisScript COUNT = new RedisScript("""
            local n = redis.call('ZCARD', KEYS[1])
            for _, b in ipairs(redis.call('SMEMBERS', KEYS[3])) do n = n + redis.call('ZCARD', b) end
            return n
            """, ScriptOutputType.INTEGER);

    private final StorageOptions options;
    private final Mono<RedisClusterReactiveCommands<String, String>> commands;
    private final Registrar registrar;
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
        return connect(redisUri, options, null);
    }

    /**
     * {@link #connect(String, StorageOptions)} on shared Lettuce resources (their event loops: an HTTP
     * server's, say, so that a registration is answered on the thread that read it), or on resources of
     * its own when {@code resources} is null. {@link #close()} leaves shared resources running.
     */
    public static RedisStorage connect(String redisUri, StorageOptions options, ClientResources resources) {
        RedisClient client = resources == null ? RedisClient.create() : RedisClient.create(resources);
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
            return commands.flatMapMany(c -> COUNT.<Long>run(c, keys.scriptKeys()))
                    .next()
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<SyncLease> preSync(String importKey) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMapMany(c -> PRE_SYNC.<Long>run(c, keys.scriptKeys(keys.fence()), ttl()))
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
            return commands.flatMap(c -> GET_OPERATIONS.<Long>run(c, keys.scriptKeys(batchKey),
                                    Long.toString(lease.token()), Integer.toString(count), ttl())
                            .next()
                            .flatMap(size -> {
                                if (size < 0) {
                                    return Mono.error(new LockLostException(lease));
                                }
                                return size == 0 ? Mono.just(List.<String>of()) : c.zrange(batchKey, 0, -1).collectList();
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
                // It left the queue with the batch all the same, and goes with the batch's removal.
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
            String[] scriptKeys = keys.scriptKeys((String) batch.handle());
            return commands.flatMapMany(c -> REMOVE_BATCH.<Long>run(c, scriptKeys, Long.toString(lease.token()),
                            release ? "1" : "0", ttl()))
                    .next()
                    .onErrorMap(RedisStorage::redisError)
                    .flatMap(removed -> removed < 0 ? Mono.error(new LockLostException(lease)) : Mono.just(removed));
        });
    }

    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            return commands.flatMapMany(c -> RELEASE.<Long>run(c, keys.scriptKeys(), Long.toString(lease.token())))
                    .then()
                    .onErrorMap(RedisStorage::redisError);
        });
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
