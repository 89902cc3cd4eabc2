package dev.changepipe.sink.redis;

import dev.changepipe.spi.TableDigest;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The hot storage sink. Owns one connection of its own, opened on the first write, with automatic
 * flushing switched off: a write sends up to {@code pipelineSize} script calls, flushes them in one
 * go and waits for every reply before sending the next group (pipelining). The calls of a write (a
 * chunk, or every chunk of a batch) go out on that one connection in item order, so Redis applies
 * them in order, per key and overall. Two writes may be in flight ({@link #maxWritesInFlight()}):
 * their calls share the connection's command queue, each write's in its own order, and a flush by
 * one also sends what the other queued, which is harmless; every call is version-checked, so the
 * order between the two writes cannot change the end state.
 *
 * <p>Items refused for their own content (a value that cannot be in a key, a key of Redis holding
 * something else) become dead letters when the options give a store, and fail the write otherwise.
 *
 * <p>Scripts are called by their SHA1; when Redis answers NOSCRIPT (a restarted or flushed server)
 * they are loaded and the group is sent again, which is harmless because every script is
 * version-checked.
 */
final class RedisHotStorageSink implements Sink, TableDigest {

    private static final Logger log = LoggerFactory.getLogger(RedisHotStorageSink.class);

    private static final String SAVE_SHA = sha1(Scripts.SAVE);
    private static final String DELETE_SHA = sha1(Scripts.DELETE);

    private final RedisClient client;
    private final RedisURI uri;
    private final HotStorageOptions options;
    private final KeyLayout layout;
    private final ObjectCodec codec = new ObjectCodec();
    private final HotStorageDigests digests;
    private final String tombstoneTtlMillis;
    private final AtomicReference<StatefulRedisConnection<String, String>> open = new AtomicReference<>();

    /** Whether {@link #close} shuts the client down too (the provider's, made for this sink alone). */
    private final boolean ownsClient;

    RedisHotStorageSink(RedisClient client, RedisURI uri, HotStorageOptions options) {
        this(client, uri, options, false);
    }

    RedisHotStorageSink(RedisClient client, RedisURI uri, HotStorageOptions options, boolean ownsClient) {
        this.ownsClient = ownsClient;
        this.client = Objects.requireNonNull(client, "client");
        this.uri = Objects.requireNonNull(uri, "uri");
        this.options = Objects.requireNonNull(options, "options");
        this.layout = new KeyLayout(options);
        this.tombstoneTtlMillis = Long.toString(options.tombstoneTtl().toMillis());
        this.digests = new HotStorageDigests(client, uri, layout);
    }

    /**
     * Verify's view of a model ({@link TableDigest}, docs/verify.md): its objects, read and digested
     * here, compared by the source's columns.
     */
    @Override
    public Mono<Target> target(String sourceTable) {
        return digests.target(sourceTable);
    }

    @Override
    public Mono<Map<Integer, Digest>> buckets(String sourceTable, Shape shape) {
        return digests.buckets(sourceTable, shape);
    }

    @Override
    public Mono<Map<String, Long>> hashes(String sourceTable, Shape shape, java.util.Set<Integer> buckets) {
        return digests.hashes(sourceTable, shape, buckets);
    }

    @Override
    public Mono<Map<String, String>> rows(String sourceTable, Shape shape, java.util.Collection<String> keys) {
        return digests.rows(sourceTable, shape, keys);
    }

    @Override
    public String name() {
        return options.sinkName();
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return writeBatch(List.of(chunk));
    }

    /**
     * One pipeline for the whole batch: the calls of every chunk's items, in push order, sent in
     * groups of {@code pipelineSize}. Items refused for their own content become dead letters (when
     * the sink has a store), stored before the write completes; the others are applied.
     */
    @Override
    public Mono<Void> writeBatch(List<Chunk> batch) {
        return Mono.defer(() -> {
            List<Call> calls = new ArrayList<>();
            List<Refusal> refused = new ArrayList<>();
            for (Chunk chunk : batch) {
                for (ChangeItem item : chunk.items()) {
                    try {
                        calls.add(prepare(item, chunk.origin()));
                    } catch (BadRecordException e) {
                        if (!options.isolating()) {
                            throw e;
                        }
                        refused.add(new Refusal(chunk.origin(), item, e.category(), e.getMessage()));
                    }
                }
            }
            if (calls.isEmpty()) {
                return deadLetters(refused);
            }
            return connection().onErrorMap(e -> failure(e, null, "cannot connect to " + uri.getHost() + ":" + uri.getPort()))
                    .flatMap(c -> Flux.fromIterable(calls)
                            .buffer(options.pipelineSize())
                            .concatMap(group -> send(c, group, true).doOnNext(sent -> refused.addAll(sent.refused)))
                            .reduce(0L, (applied, sent) -> applied + sent.applied))
                    .doOnNext(applied -> log.debug("{}: {} applied {} of {} changes (the rest were stale, replays or refused)",
                            name(), batch.size() == 1 ? "chunk " + batch.get(0) : batch.size() + " chunks", applied,
                            calls.size()))
                    .then(Mono.defer(() -> deadLetters(refused)));
        });
    }

    /** Two batches may be in flight: every object's change is version-checked, so writes commute. */
    @Override
    public int maxWritesInFlight() {
        return 2;
    }

    /**
     * Sends a group of calls in one flush; completes with how many were applied and which items Redis
     * refused for their own key (when the sink dead-letters them). Any other error fails the group.
     */
    private Mono<Sent> send(StatefulRedisConnection<String, String> c, List<Call> group, boolean mayLoadScripts) {
        return Mono.defer(() -> {
            RedisAsyncCommands<String, String> commands = c.async();
            List<CompletableFuture<Long>> replies = new ArrayList<>(group.size());
            for (Call call : group) {
                RedisFuture<Long> reply = commands.evalsha(call.sha, ScriptOutputType.INTEGER, call.keys, call.args);
                replies.add(reply.toCompletableFuture());
            }
            c.flushCommands();
            CompletableFuture<?>[] settled = replies.stream().map(r -> r.handle((v, e) -> null))
                    .toArray(CompletableFuture[]::new);
            return Mono.fromCompletionStage(CompletableFuture.allOf(settled))
                    .then(Mono.fromCallable(() -> {
                        long applied = 0;
                        List<Refusal> refused = new ArrayList<>();
                        for (int i = 0; i < replies.size(); i++) {
                            CompletableFuture<Long> r = replies.get(i);
                            if (!r.isCompletedExceptionally()) {
                                applied += r.join();
                                continue;
                            }
                            Throwable error = RedisErrors.unwrap(r.handle((v, e) -> e).join());
                            Call call = group.get(i);
                            if (RedisErrors.isKeyConflict(error) && options.isolating()) {
                                refused.add(new Refusal(call.origin, call.item, "key-conflict", "sink " + name()
                                        + ", table " + call.model + ": cannot store " + call.item.kind() + " of key "
                                        + call.item.key() + " at version " + call.item.version() + ": "
                                        + error.getMessage()));
                                continue;
                            }
                            throw error instanceof Exception ex ? ex : new IllegalStateException(error);
                        }
                        return new Sent(applied, refused);
                    }));
        }).onErrorResume(e -> mayLoadScripts && RedisErrors.unwrap(e) instanceof RedisNoScriptException,
                e -> loadScripts(c).then(send(c, group, false)))
                .onErrorMap(e -> !(e instanceof PipelineException), e -> {
                    Throwable cause = RedisErrors.unwrap(e);
                    return failure(cause, tableOf(group, cause), "script call failed: " + cause.getMessage());
                });
    }

    /** Stores the refused items as dead letters, durably; completes once they are. */
    private Mono<Void> deadLetters(List<Refusal> refused) {
        if (refused.isEmpty()) {
            return Mono.empty();
        }
        return Mono.fromCallable(() -> {
            DeadLetterStore store = options.deadLetters();
            List<DeadLetter> letters = new ArrayList<>(refused.size());
            for (Refusal r : refused) {
                letters.add(DeadLetter.ofItem(store.pipeline(), name(), r.origin, r.item, r.cause, r.reason));
            }
            int stored = store.append(letters);
            log.debug("{}: {} item(s) refused, {} new dead letter(s)", name(), letters.size(), stored);
            return stored;
        }).subscribeOn(Schedulers.boundedElastic()).then();
    }

    /** The sink's connection, opened (with automatic flushing off) on first use. */
    private Mono<StatefulRedisConnection<String, String>> connection() {
        return Mono.defer(() -> {
            StatefulRedisConnection<String, String> current = open.get();
            if (current != null) {
                return Mono.just(current);
            }
            return Mono.fromCompletionStage(client.connectAsync(StringCodec.UTF8, uri)).flatMap(fresh -> {
                fresh.setAutoFlushCommands(false);
                if (open.compareAndSet(null, fresh)) {
                    return Mono.just(fresh);
                }
                return Mono.fromCompletionStage(fresh.closeAsync()).then(connection());
            });
        });
    }

    private Mono<Void> loadScripts(StatefulRedisConnection<String, String> c) {
        return Mono.defer(() -> {
            log.info("{}: loading the hot storage scripts into Redis", name());
            RedisAsyncCommands<String, String> commands = c.async();
            CompletableFuture<String> save = commands.scriptLoad(Scripts.SAVE).toCompletableFuture();
            CompletableFuture<String> delete = commands.scriptLoad(Scripts.DELETE).toCompletableFuture();
            c.flushCommands();
            return Mono.fromCompletionStage(CompletableFuture.allOf(save, delete));
        });
    }

    private Call prepare(ChangeItem item, String origin) {
        String model = item.table();
        try {
            if (item.version() < 0) {
                throw new BadRecordException("bad-version", name(), model, "cannot store " + item.kind() + " of key "
                        + item.key().keySet() + ": its version is negative: " + item.version(), null);
            }
            String pk = KeyLayout.pkPart(item.key());
            String version = Long.toString(item.version());
            List<String> keys = new ArrayList<>(6);
            keys.add(layout.objectKey(model, pk));
            keys.add(layout.indexesKey(model, pk));
            keys.add(layout.allKey(model));
            keys.add(layout.tombstoneKey(model, pk));
            if (!item.kind().isSave()) {
                return new Call(DELETE_SHA, keys.toArray(String[]::new), new String[] {version, pk, tombstoneTtlMillis}, model,
                        item, origin);
            }
            for (UniqueConstraint constraint : options.constraintsOf(model)) {
                String key = layout.uniqueKey(model, constraint, item.values());
                if (key != null) {
                    keys.add(key);
                }
            }
            String json = codec.encode(item.version(), item.key(), item.values());
            return new Call(SAVE_SHA, keys.toArray(String[]::new),
                    new String[] {version, pk, json, layout.pkKeyPrefix(model)}, model, item, origin);
        } catch (IllegalArgumentException | JsonProcessingException e) {
            throw new BadRecordException(e instanceof JsonProcessingException ? "conversion" : "bad-key", name(), model,
                    "cannot store " + item.kind() + " of key " + item.key().keySet() + " at version " + item.version()
                            + ": " + e.getMessage(), e);
        }
    }

    private SinkException failure(Throwable cause, String table, String message) {
        Throwable e = RedisErrors.unwrap(cause);
        return new SinkException(name(), table, null, message, e, RedisErrors.isRetryable(e));
    }

    private static String tableOf(List<Call> group, Throwable cause) {
        String message = cause.getMessage() == null ? "" : cause.getMessage();
        for (Call call : group) {
            if (message.contains(call.keys[0])) {
                return call.model;
            }
        }
        return group.size() == 1 || group.stream().map(c -> c.model).distinct().count() == 1 ? group.get(0).model : null;
    }

    @Override
    public Mono<Void> close() {
        Mono<Void> closed = Mono.defer(() -> {
            StatefulRedisConnection<String, String> c = open.getAndSet(null);
            return c == null ? Mono.empty() : Mono.fromCompletionStage(c.closeAsync()).then();
        });
        return ownsClient ? closed.then(Mono.fromCompletionStage(client.shutdownAsync())).then() : closed;
    }

    private static String sha1(String script) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            return HexFormat.of().formatHex(md.digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is not available", e);
        }
    }

    /** One script call: which script, its keys and arguments, the model for error messages, its item. */
    private record Call(String sha, String[] keys, String[] args, String model, ChangeItem item, String origin) {
    }

    /** What a group of calls did: how many were applied, which items Redis refused. */
    private record Sent(long applied, List<Refusal> refused) {
    }

    /** An item the sink refuses, with its origin and the dead letter's cause and reason. */
    private record Refusal(String origin, ChangeItem item, String cause, String reason) {
    }

    /** An item refused for its own content: a dead letter, or a permanent failure without a store. */
    static final class BadRecordException extends SinkException {
        private final String category;

        BadRecordException(String category, String sink, String table, String message, Throwable cause) {
            super(sink, table, null, message, cause, false);
            this.category = category;
        }

        String category() {
            return category;
        }
    }
}
