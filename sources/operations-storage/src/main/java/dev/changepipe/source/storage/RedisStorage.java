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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * An {@link OperationsStorage} in Redis, on Lettuce's reactive API, with django-clickhouse's key
 * layout (see {@link StorageOptions#keyPrefix()}): a Django app that registers operations with
 * django-clickhouse's {@code RedisStorage} can hand its sync to this storage unchanged.
 *
 * <p><b>Where django-clickhouse loses data, this does not.</b> Every step is one Lua script, so it is
 * atomic, and checks the lease's fencing token first: a worker whose lock expired (and was perhaps
 * taken by another worker) fetches and removes nothing, whatever it believes. A fetch <em>moves</em>
 * the batch out of the queue into keys of its own ({@code <prefix>:batch:<import key>:<token>:<n>},
 * one per step, listed in the set {@code <prefix>:batches:<import key>}); the removal deletes those
 * keys and nothing else. So an operation registered again while its batch is being synced is queued
 * anew and synced again (django-clickhouse removed by score or by rank through a shared rank key, which
 * removed such operations, and after an empty round operations never fetched). A batch whose worker
 * failed, died or lost its lock goes back into the queue, with its scores: on {@code postSyncFailed},
 * or at the next {@code preSync}. Fetching is by rank over all scores, so an operation scored in the
 * future by a skewed clock is fetched in turn rather than waiting for that time.
 *
 * <p><b>No script holds Redis long.</b> Redis runs one script at a time and nothing else meanwhile,
 * so the application's registrations wait for it. A fetch, a put-back and a registration move at most
 * {@value #STEP} members per script call (a batch of 10,000 is twenty calls); each call is atomic and
 * checks the fencing token, and between two calls every member is either queued or in a listed batch
 * key, so a worker that dies between steps loses nothing. A fetch step is {@code ZRANGESTORE} plus
 * {@code ZREMRANGEBYRANK}, binary and linear in the step, and returns the step's members (no score is
 * printed or parsed); a removal is an {@code UNLINK} per step key. Only putting members back into the
 * queue prints their scores ({@code ZPOPMIN}, then {@code ZADD LT}).
 *
 * <p><b>The lock</b> is django-clickhouse's key, holding the fencing token, with a short expiry
 * ({@link StorageOptions#lockTimeout()}) that every call under the lease renews, and {@link #renew}
 * between calls. Beside it, for django-clickhouse's {@code pre_sync}, {@code <prefix>:lock_pid:<import
 * key>} holds this JVM's pid while the lock is held, with the same expiry: a django-clickhouse worker
 * that finds the lock taken sees a live process and gives up its round cleanly (on the same host; see
 * docs/operations-storage.md).
 *
 * <p><b>Registration</b> is batched: concurrent calls are coalesced into one script call per import
 * key ({@link StorageOptions#maxRegistrationBatch()} pks at most, {@link
 * StorageOptions#maxRegistrationsInFlight()} calls under way), on one pipelined connection; a larger
 * call is split. One {@code ZADD NX} per caller.
 *
 * <p><b>Redis Cluster</b>: with {@link StorageOptions#clusterMode()} the import key is a hash tag, so
 * every key of one import key lives in one slot and every script runs on one node.
 *
 * <p><b>Threading.</b> Safe for concurrent use; nothing blocks; results arrive on Lettuce's I/O
 * threads. Connection faults are retryable {@link PipelineException}s.
 */
public final class RedisStorage implements OperationsStorage {

    private static final Logger log = LoggerFactory.getLogger(RedisStorage.class);

    /**
     * Most members one script call moves (fetch, put back) or registers: about a millisecond of Redis's
     * time on a slow, loaded machine (2 vCPUs shared by several builds: 1,000 took 1.4 to 2.5 ms).
     */
    static final int STEP = 500;

    /** Most step keys of a batch one removal call deletes. */
    static final int REMOVAL_KEYS = 100;

    /** This process's id, as django-clickhouse writes it into {@code lock_pid} ({@code os.getpid()}). */
    static final String PID = Long.toString(ProcessHandle.current().pid());

    // KEYS[1] operations; ARGV: n1, members..., n2, members... -> one count of new members per group.
    // ZADD NX: a member still queued keeps its score, its place in line (its row is read when it is
    // fetched, so a later change is synced with it; a row changed all the time is not pushed back
    // forever). A member being synced is not queued: registered again, it is queued anew. One ZADD per
    // group of up to 1,000 members (a ZADD per member cost Redis twice the time), the score turned into
    // text once (as redis.call would turn the number, every time).
    static final RedisScript REGISTER = new RedisScript("""
            local t = redis.call('TIME')
            local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1000000)
            local key = KEYS[1]
            local res = {}
            local i = 1
            while i <= #ARGV do
              local n = tonumber(ARGV[i])
              local added = 0
              local args = {}
              for j = i + 1, i + n do
                args[#args + 1] = now
                args[#args + 1] = ARGV[j]
                if #args == 2000 then
                  added = added + redis.call('ZADD', key, 'NX', unpack(args))
                  args = {}
                end
              end
              if #args > 0 then added = added + redis.call('ZADD', key, 'NX', unpack(args)) end
              res[#res + 1] = added
              i = i + n + 1
            end
            return res
            """, ScriptOutputType.MULTI);

    // The scripts under a lease: KEYS[1] operations, KEYS[2] lock, KEYS[3] batches, KEYS[4] lock_pid;
    // ARGV[1] token, ARGV[2] ttl ms. holds() is the fence: true, and the lock and its pid renewed, when
    // the lock still holds the lease's token.
    private static final String HOLDS = """
            local function holds()
              if redis.call('GET', KEYS[2]) ~= ARGV[1] then return false end
              redis.call('PEXPIRE', KEYS[2], ARGV[2])
              redis.call('PEXPIRE', KEYS[4], ARGV[2])
              return true
            end
            """;

    // KEYS[5] fence; ARGV[1] ttl ms, ARGV[2] pid -> token, or 0 when the lock is held. The lock holds
    // the token, lock_pid the pid (django-clickhouse's pre_sync reads it when it finds the lock taken),
    // both with the same expiry. Batches left by an earlier lease are put back by RESTORE_STEP calls
    // under the new token.
    // KEYS[6] the handed-over mark; ARGV[3] '1' to take the lock all the same -> -1 when the import key
    // was handed to another syncer and not taken back.
    static final RedisScript PRE_SYNC = new RedisScript("""
            if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
            if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[6]) == 1 then return -1 end
            local token = redis.call('INCR', KEYS[5])
            redis.call('SET', KEYS[2], token, 'PX', ARGV[1])
            redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[1])
            return token
            """, ScriptOutputType.INTEGER);

    // -> 1, or 0 when the lock is lost.
    static final RedisScript RENEW = new RedisScript(HOLDS + """
            if holds() then return 1 end
            return 0
            """, ScriptOutputType.INTEGER);

    // KEYS[5] the step's key; ARGV[3] count (at most STEP) -> the step's members, or {-1} when the lock
    // is lost. Moves the first count ranks out of the queue into the step's key, on the server
    // (ZRANGESTORE keeps each member with its score, in binary; ZREMRANGEBYRANK removes a range of
    // ranks without naming a member), and lists the key: no score is printed, sent or parsed, and the
    // next step takes the next ones. The key has no expiry: it holds its operations until the batch is
    // removed or put back.
    static final RedisScript FETCH_STEP = new RedisScript(HOLDS + """
            if not holds() then return {-1} end
            local n = redis.call('ZRANGESTORE', KEYS[5], KEYS[1], 0, tonumber(ARGV[3]) - 1)
            if n == 0 then return {} end
            redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1)
            redis.call('SADD', KEYS[3], KEYS[5])
            return redis.call('ZRANGE', KEYS[5], 0, -1)
            """, ScriptOutputType.MULTI);

    // KEYS[5..] step keys of one batch -> how many members they held, or -1 when the lock is lost. A key
    // no longer listed (removed or put back before) counts nothing. UNLINK: Redis frees the members in
    // a background thread.
    static final RedisScript REMOVE = new RedisScript(HOLDS + """
            if not holds() then return -1 end
            local n = 0
            for i = 5, #KEYS do
              if redis.call('SREM', KEYS[3], KEYS[i]) == 1 then
                n = n + redis.call('ZCARD', KEYS[i])
                redis.call('UNLINK', KEYS[i])
              end
            end
            return n
            """, ScriptOutputType.INTEGER);

    // ARGV[3] count (at most STEP) -> -1 when the lock is lost, else how many step keys are still listed
    // (0: everything is back). Puts up to count members of the listed step keys back into the queue with
    // their scores, or the queued score where lower (ZADD LT adds the missing ones and keeps the earlier
    // place of one registered again meanwhile), lowest first, and unlists emptied keys. The keys come
    // from the set, not from KEYS: they share the import key's hash tag, so in a cluster they are in the
    // same slot.
    static final RedisScript RESTORE_STEP = new RedisScript(HOLDS + """
            if not holds() then return -1 end
            local left = tonumber(ARGV[3])
            while left > 0 do
              local b = redis.call('SRANDMEMBER', KEYS[3])
              if not b then return 0 end
              local r = redis.call('ZPOPMIN', b, left)
              if #r > 0 then
                local args = {}
                for i = 1, #r, 2 do
                  args[#args + 1] = r[i + 1]
                  args[#args + 1] = r[i]
                end
                redis.call('ZADD', KEYS[1], 'LT', unpack(args))
                left = left - #r / 2
              end
              if redis.call('EXISTS', b) == 0 then redis.call('SREM', KEYS[3], b) end
            end
            return redis.call('SCARD', KEYS[3])
            """, ScriptOutputType.INTEGER);

    // ARGV[1] token -> 1 when released, 0 when the lock is lost (then nothing is touched: neither the
    // new holder's lock nor its pid).
    static final RedisScript RELEASE = new RedisScript("""
            if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
            redis.call('DEL', KEYS[2])
            redis.call('DEL', KEYS[4])
            return 1
            """, ScriptOutputType.INTEGER);

    // KEYS[1] operations, KEYS[3] batches -> queued plus being synced.
    static final RedisScript COUNT = new RedisScript("""
            local n = redis.call('ZCARD', KEYS[1])
            for _, b in ipairs(redis.call('SMEMBERS', KEYS[3])) do n = n + redis.call('ZCARD', b) end
            return n
            """, ScriptOutputType.INTEGER);

    // KEYS[5] the handed-over mark -> {lock value or '', its PTTL, lock_pid or '', queued, open step keys,
    // members in them, the mark or ''}. Reads only.
    static final RedisScript LOCK_STATE = new RedisScript("""
            local lock = redis.call('GET', KEYS[2]) or ''
            local ttl = redis.call('PTTL', KEYS[2])
            local pid = redis.call('GET', KEYS[4]) or ''
            local open = 0
            local batches = redis.call('SMEMBERS', KEYS[3])
            for _, b in ipairs(batches) do open = open + redis.call('ZCARD', b) end
            local given = redis.call('GET', KEYS[5]) or ''
            return {lock, tostring(ttl), pid, tostring(redis.call('ZCARD', KEYS[1])), tostring(#batches), tostring(open),
                    given}
            """, ScriptOutputType.MULTI);

    /**
     * Who holds an import key's lock, and what is queued: what a handover between django-clickhouse and
     * this storage looks at.
     *
     * @param holder the lock's value: this storage's fencing token (digits), django-clickhouse's
     *     redis-py lock token (a hex UUID), or {@code null} when the lock is free
     * @param expiresInMillis the lock's remaining time to live; 0 when free, -1 when it has no expiry
     * @param pid the holder's process id from {@code lock_pid}, or {@code null} when absent or not a number
     * @param queued operations in the queue
     * @param openBatches keys of batches fetched under some lease and neither removed nor put back
     * @param inOpenBatches the operations in them
     * @param handedOverTo the syncer the import key was handed to ({@link #handOver}), or {@code null}
     */
    public record LockState(String holder, long expiresInMillis, Long pid, long queued, long openBatches,
            long inOpenBatches, String handedOverTo) {

        /** Whether some worker holds the lock. */
        public boolean locked() {
            return holder != null;
        }

        /** Whether the holder is a worker of this storage (its fencing token), not django-clickhouse. */
        public boolean heldByChangepipe() {
            return holder != null && !holder.isEmpty() && holder.chars().allMatch(Character::isDigit);
        }
    }

    private final StorageOptions options;
    private final Mono<RedisClusterReactiveCommands<String, String>> commands;
    private final Registrar registrar;
    private final AtomicLong batchNumbers = new AtomicLong();
    private final Set<String> handedOverLogged = ConcurrentHashMap.newKeySet();
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
    public Duration lockTimeout() {
        return options.lockTimeout();
    }

    @Override
    public Mono<Long> registerOperations(String importKey, Operation.Type type, String dbAlias, Collection<String> pks) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            List<String> members = new ArrayList<>(pks.size());
            for (String pk : pks) {
                members.add(new Operation(type, dbAlias, pk).member());
            }
            int most = options.maxRegistrationBatch();
            if (members.size() <= most) {
                return registrar.register(keys.operations(), members);
            }
            // One script call registers maxRegistrationBatch members at most: a larger call is split.
            List<List<String>> parts = new ArrayList<>();
            for (int i = 0; i < members.size(); i += most) {
                parts.add(members.subList(i, Math.min(members.size(), i + most)));
            }
            return Flux.fromIterable(parts)
                    .flatMap(part -> registrar.register(keys.operations(), part))
                    .reduce(0L, Long::sum);
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

    /** The lock and queue of an import key, read in one script (see {@link LockState}). */
    public Mono<LockState> lockState(String importKey) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMapMany(c -> LOCK_STATE.<Object>run(c, keys.scriptKeys(keys.handedOver())))
                    .collectList()
                    .map(reply -> {
                        List<String> v = Registrar.flatten(reply).stream().map(String::valueOf).toList();
                        long ttl = Long.parseLong(v.get(1));
                        Long pid = v.get(2).matches("\\d{1,18}") ? Long.valueOf(v.get(2)) : null;
                        return new LockState(v.get(0).isEmpty() ? null : v.get(0), ttl == -2 ? 0 : ttl, pid,
                                Long.parseLong(v.get(3)), Long.parseLong(v.get(4)), Long.parseLong(v.get(5)),
                                v.get(6).isEmpty() ? null : v.get(6));
                    })
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /**
     * Takes the lock (and writes {@code lock_pid}) in one script, then puts back the batches of an
     * earlier lease, {@value #STEP} members per call. A fault while putting them back releases the
     * lock; a lease lost meanwhile completes empty, as when the lock is held.
     */
    @Override
    public Mono<SyncLease> preSync(String importKey) {
        return preSync(importKey, false);
    }

    /**
     * Gives an import key to another syncer (django-clickhouse) for good, or takes it back: while it is
     * given, {@link #preSync} takes no lease on it (and logs so), whichever worker asks, so that a worker
     * left running (or restarted by a supervisor) cannot sync beside the other syncer. The handover
     * command ({@code ./pipeline handover}) sets and clears it.
     */
    public Mono<Void> handOver(String importKey, String to) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMap(c -> to == null ? c.del(keys.handedOver()).then() : c.set(keys.handedOver(), to).then())
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /**
     * Puts back the batches that workers fetched and never removed (they died, or lost their lock), with
     * a lease taken and released at once, also on an import key handed to another syncer: that syncer
     * then finds every operation in the queue. Completes empty when a worker holds the lock.
     */
    public Mono<Boolean> putBackOpenBatches(String importKey) {
        return preSync(importKey, true)
                .flatMap(lease -> postSyncFailed(lease).thenReturn(true))
                .defaultIfEmpty(false);
    }

    private Mono<SyncLease> preSync(String importKey, boolean evenHandedOver) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, importKey);
            return commands.flatMapMany(c -> PRE_SYNC.<Long>run(c, keys.scriptKeys(keys.fence(), keys.handedOver()),
                            ttl(), PID, evenHandedOver ? "1" : "0"))
                    .next()
                    .doOnNext(token -> {
                        if (token < 0 && handedOverLogged.add(importKey)) {
                            log.warn("import key {} was handed over to another syncer ({}): not syncing it until it is "
                                    + "taken back with ./pipeline handover --from", importKey, keys.handedOver());
                        }
                    })
                    .filter(token -> token > 0)
                    .map(token -> new SyncLease(importKey, token))
                    .flatMap(lease -> restore(lease)
                            .thenReturn(lease)
                            // Lost while putting batches back: another worker holds the lock now.
                            .onErrorResume(LockLostException.class, e -> Mono.empty())
                            .onErrorResume(e -> release(lease)
                                    .onErrorResume(releaseError -> {
                                        e.addSuppressed(releaseError);
                                        return Mono.empty();
                                    })
                                    .then(Mono.error(e))))
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    @Override
    public Mono<Void> renew(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            return commands.flatMapMany(c -> RENEW.<Long>run(c, keys.scriptKeys(), token(lease), ttl()))
                    .next()
                    .onErrorMap(RedisStorage::redisError)
                    .flatMap(held -> held == 1 ? Mono.<Void>empty() : Mono.error(new LockLostException(lease)));
        });
    }

    /**
     * Moves the batch in steps of {@value #STEP} members, each into a step key of its own; stops after
     * {@code count} members or a step that found fewer than it asked for.
     */
    @Override
    public Mono<OperationBatch> getOperations(SyncLease lease, int count) {
        return Mono.defer(() -> {
            if (count < 1) {
                return Mono.error(new IllegalArgumentException("count must be positive, was " + count));
            }
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            List<String> stepKeys = new ArrayList<>();
            List<String> members = new ArrayList<>(Math.min(count, 16 * STEP));
            return commands.flatMap(c -> fetchSteps(c, keys, lease, count, stepKeys, members))
                    .then(Mono.fromCallable(() -> batch(lease, members, List.copyOf(stepKeys))))
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /** One step after the other (a loop, not a recursion: a batch of millions is thousands of steps). */
    private Mono<Void> fetchSteps(RedisClusterReactiveCommands<String, String> c, RedisKeys keys, SyncLease lease,
            int count, List<String> stepKeys, List<String> members) {
        int[] remaining = {count};
        boolean[] more = {true};
        return Mono.defer(() -> {
                    int n = Math.min(STEP, remaining[0]);
                    String stepKey = keys.batch(lease.token(), batchNumbers.incrementAndGet());
                    return FETCH_STEP.<Object>run(c, keys.scriptKeys(stepKey), token(lease), ttl(), Integer.toString(n))
                            .collectList()
                            .flatMap(reply -> {
                                List<?> step = Registrar.flatten(reply);
                                if (step.size() == 1 && step.get(0) instanceof Long) {
                                    return Mono.error(new LockLostException(lease));
                                }
                                if (!step.isEmpty()) {
                                    stepKeys.add(stepKey);
                                    for (Object member : step) {
                                        members.add((String) member);
                                    }
                                }
                                remaining[0] -= n;
                                more[0] = step.size() == n && remaining[0] > 0;
                                return Mono.<Void>empty();
                            });
                })
                .repeat(() -> more[0])
                .then();
    }

    private static OperationBatch batch(SyncLease lease, List<String> members, Object handle) {
        List<Operation> operations = new ArrayList<>(members.size());
        List<String> rejected = new ArrayList<>();
        for (String member : members) {
            try {
                operations.add(Operation.parse(member));
            } catch (IllegalArgumentException e) {
                // It left the queue with the batch all the same, and goes with the batch's removal.
                rejected.add(member);
            }
        }
        return new OperationBatch(lease, operations, rejected, handle);
    }

    /** {@link #removeBatch}, then {@link #postSyncFailed}: the removal is done once the first step is. */
    @Override
    public Mono<Long> postSync(OperationBatch batch) {
        return removeBatch(batch).flatMap(removed -> postSyncFailed(batch.lease()).thenReturn(removed));
    }

    /** Deletes the batch's step keys, {@value #REMOVAL_KEYS} keys per call. */
    @Override
    public Mono<Long> removeBatch(OperationBatch batch) {
        return Mono.defer(() -> {
            SyncLease lease = batch.lease();
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            @SuppressWarnings("unchecked")
            List<String> stepKeys = (List<String>) batch.handle();
            List<List<String>> parts = new ArrayList<>();
            for (int i = 0; i < stepKeys.size(); i += REMOVAL_KEYS) {
                parts.add(stepKeys.subList(i, Math.min(stepKeys.size(), i + REMOVAL_KEYS)));
            }
            if (parts.isEmpty()) {
                parts.add(List.of());
            }
            return commands.flatMap(c -> Flux.fromIterable(parts)
                            .concatMap(part -> REMOVE.<Long>run(c, keys.scriptKeys(part.toArray(String[]::new)),
                                            token(lease), ttl())
                                    .next()
                                    .flatMap(removed -> removed < 0
                                            ? Mono.error(new LockLostException(lease)) : Mono.just(removed)))
                            .reduce(0L, Long::sum))
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    /**
     * Puts the lease's batches back, {@value #STEP} members per call, then releases the lock; stops
     * quietly where the lease turns out lost.
     */
    @Override
    public Mono<Void> postSyncFailed(SyncLease lease) {
        return restore(lease)
                .then(release(lease))
                .onErrorResume(LockLostException.class, e -> Mono.empty());
    }

    /** Puts every listed batch back into the queue; fails with {@link LockLostException} when lost. */
    private Mono<Void> restore(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            String[] scriptKeys = keys.scriptKeys();
            return commands.flatMap(c -> restoreSteps(c, scriptKeys, lease)).onErrorMap(RedisStorage::redisError);
        });
    }

    private Mono<Void> restoreSteps(RedisClusterReactiveCommands<String, String> c, String[] scriptKeys,
            SyncLease lease) {
        long[] listed = {0};
        return Mono.defer(() -> RESTORE_STEP.<Long>run(c, scriptKeys, token(lease), ttl(), Integer.toString(STEP)).next())
                .flatMap(left -> {
                    listed[0] = left;
                    return left < 0 ? Mono.<Void>error(new LockLostException(lease)) : Mono.<Void>empty();
                })
                .repeat(() -> listed[0] > 0)
                .then();
    }

    private Mono<Void> release(SyncLease lease) {
        return Mono.defer(() -> {
            RedisKeys keys = RedisKeys.of(options, lease.importKey());
            return commands.flatMapMany(c -> RELEASE.<Long>run(c, keys.scriptKeys(), token(lease)))
                    .then()
                    .onErrorMap(RedisStorage::redisError);
        });
    }

    private static String token(SyncLease lease) {
        return Long.toString(lease.token());
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
                            .concatMap(c::unlink)
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
