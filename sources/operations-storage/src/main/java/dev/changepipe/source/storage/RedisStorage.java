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
import java.util.Collection;
import java.util.List;
import java.util.Objects;
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

    // KEYS[1] operations; ARGV[1] count -> member1, score1, member2, score2... (the count lowest), every
    // score as the text Redis prints for it. Run as a script so that the reply is plain strings in any
    // protocol version (RESP3 would send doubles) and the scores go back to POST_SYNC verbatim: no
    // parsing and printing of 10,000 doubles per batch on the client, and no doubt they round-trip.
    static final RedisScript GET_OPERATIONS = new RedisScript("""
            return redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
            """, ScriptOutputType.MULTI);

    // KEYS[1] operations, KEYS[2] lock; ARGV[1] token, ARGV[2] n, then n members, then their n scores
    // -> removed, or -1. ZMSCORE reads every score in one call; ZREM removes in slices (Lua's unpack
    // is limited in arguments). The fetched scores are normally Redis's own text (GET_OPERATIONS), so
    // equal text settles most comparisons without parsing; any other text is compared as a number.
    static final RedisScript POST_SYNC = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
            local n = tonumber(ARGV[2])
            local removed = 0
            local slice = {}
            for first = 3, n + 2, 4000 do
              local last = math.min(first + 3999, n + 2)
              local scores = redis.call('ZMSCORE', KEYS[1], unpack(ARGV, first, last))
              for i = first, last do
                local s = scores[i - first + 1]
                local f = ARGV[i + n]
                if s and (s == f or tonumber(s) == tonumber(f)) then
                  slice[#slice + 1] = ARGV[i]
                end
              end
              if #slice > 0 then
                removed = removed + redis.call('ZREM', KEYS[1], unpack(slice))
                slice = {}
              end
            end
            redis.call('DEL', KEYS[2])
            return removed
            """, ScriptOutputType.INTEGER);

    // KEYS[1] lock; ARGV[1] token -> 1 when released.
    static final RedisScript RELEASE = new RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then
              redis.call('DEL', KEYS[1])
              return 1
            end
            return 0
            """, ScriptOutputType.INTEGER);

    private final StorageOptions options;
    private final Mono<RedisClusterReactiveCommands<String, String>> commands;
    private final Registrar registrar;
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
    public Mono<List<StoredOperation>> getOperations(SyncLease lease, int count) {
        return Mono.defer(() -> {
            if (count < 1) {
                return Mono.error(new IllegalArgumentException("count must be positive, was " + count));
            }
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            return commands.flatMapMany(c -> GET_OPERATIONS.<Object>run(c, new String[] {keys.operations()},
                            Integer.toString(count)))
                    .collectList()
                    .map(reply -> {
                        List<?> flat = Registrar.flatten(reply);
                        List<StoredOperation> ops = new ArrayList<>(flat.size() / 2);
                        for (int i = 0; i + 1 < flat.size(); i += 2) {
                            String member = (String) flat.get(i);
                            String score = (String) flat.get(i + 1);
                            try {
                                ops.add(new StoredOperation(Operation.parse(member), parseScore(score), member,
                                        score));
                            } catch (IllegalArgumentException e) {
                                log.warn("import key {}: skipping a member that is not an operation: {}",
                                        lease.importKey(), e.getMessage());
                            }
                        }
                        return ops;
                    })
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<Long> postSync(SyncLease lease, List<StoredOperation> fetched) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            int n = fetched.size();
            String[] args = new String[2 + 2 * n];
            args[0] = Long.toString(lease.token());
            args[1] = Integer.toString(n);
            for (int i = 0; i < n; i++) {
                StoredOperation op = fetched.get(i);
                args[2 + i] = op.member();
                args[2 + n + i] = op.scoreText();
            }
            return commands.flatMapMany(c -> POST_SYNC.<Long>run(c, new String[] {keys.operations(), keys.lock()}, args))
                    .next()
                    .onErrorMap(RedisStorage::redisError)
                    .flatMap(removed -> removed < 0 ? Mono.error(new LockLostException(lease)) : Mono.just(removed));
        });
    }

    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            return commands.flatMapMany(c -> RELEASE.<Long>run(c, new String[] {keys.lock()},
                            Long.toString(lease.token())))
                    .then()
                    .onErrorMap(RedisStorage::redisError);
        });
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

    /** A score as Redis prints it: a decimal number, or {@code inf} / {@code -inf}. */
    static double parseScore(String text) {
        return switch (text) {
            case "inf", "+inf" -> Double.POSITIVE_INFINITY;
            case "-inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(text);
        };
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
