package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A pipeline's checkpoints in Redis, where every instance of the service finds them
 * ({@link Instances}): the hash {@code changepipe:checkpoints:<pipeline>} holds each origin's
 * checkpoint as JSON, the hash {@code changepipe:claims:<pipeline>} each origin's newest claim token.
 * A save compares the token and writes in one script, so a save under an older claim changes nothing.
 *
 * <p><b>Durability</b> is Redis's: a save is durable once Redis persists it ({@code appendonly yes},
 * {@code appendfsync always} for every save; {@code everysec} may lose the last second, and the
 * origins are then read again from a slightly older position, which versions make harmless).
 */
final class RedisCheckpointStore implements CheckpointStore {

    // KEYS[1] checkpoints, KEYS[2] claims; ARGV[1] origin, ARGV[2] token, ARGV[3] json -> 0 when saved,
    // else the newest token
    private static final String SAVE = """
            local newest = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
            if newest ~= tonumber(ARGV[2]) then return newest end
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
            return 0
            """;

    // KEYS[1] checkpoints, KEYS[2] claims; ARGV[1] origin, ARGV[2] json -> 1 when imported, 0 when Redis
    // has a checkpoint of the origin already. The claim moves past every earlier one, so that a writer
    // that claimed the origin before the import cannot save over it.
    private static final String IMPORT = """
            if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
            redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
            return 1
            """;

    private final String pipeline;
    private final Supplier<RedisReactiveCommands<String, String>> redis;
    private final String checkpoints;
    private final String claims;

    RedisCheckpointStore(String pipeline, Supplier<RedisReactiveCommands<String, String>> redis) {
        this.pipeline = pipeline;
        this.redis = redis;
        this.checkpoints = Instances.PREFIX + "checkpoints:" + pipeline;
        this.claims = Instances.PREFIX + "claims:" + pipeline;
    }

    @Override
    public Mono<Long> claim(String origin) {
        return io(() -> redis.get().hincrby(claims, origin, 1));
    }

    @Override
    public Mono<Checkpoint> load(String origin) {
        return io(() -> redis.get().hget(checkpoints, origin).map(this::decode));
    }

    @Override
    public Mono<Void> save(Checkpoint checkpoint, long token) {
        return io(() -> redis.get().<Long>eval(SAVE, ScriptOutputType.INTEGER, new String[] {checkpoints, claims},
                        checkpoint.origin(), Long.toString(token), encode(checkpoint))
                .next()
                .flatMap(newest -> newest == 0 ? Mono.<Void>empty()
                        : Mono.error(new StaleClaimException(checkpoint.origin(), token, newest))));
    }

    @Override
    public Flux<Checkpoint> loadAll() {
        return io(() -> redis.get().hvals(checkpoints).collectList()).flatMapIterable(all -> all.stream().map(this::decode).toList());
    }

    @Override
    public Mono<Void> delete(String origin) {
        // the claim token stays, so that an old claim stays stale after a reset
        return io(() -> redis.get().hdel(checkpoints, origin).then());
    }

    /**
     * Copies the checkpoints of {@code from} (the pipeline's directory from before {@code instances:})
     * of every origin Redis has none of; emits how many were copied. Run once at start, so that a
     * pipeline moved to Redis reads on where it was instead of from the start.
     */
    Mono<Long> importFrom(CheckpointStore from) {
        return from.loadAll()
                .concatMap(c -> io(() -> redis.get().<Long>eval(IMPORT, ScriptOutputType.INTEGER,
                        new String[] {checkpoints, claims}, c.origin(), encode(c)).next()))
                .reduce(0L, Long::sum);
    }

    private static String encode(Checkpoint c) {
        ObjectNode node = AdminServer.JSON.createObjectNode().put("origin", c.origin()).put("offset", c.offset().value());
        ObjectNode attributes = node.putObject("attributes");
        c.attributes().forEach(attributes::put);
        return node.toString();
    }

    private Checkpoint decode(String json) {
        try {
            JsonNode node = AdminServer.JSON.readTree(json);
            Map<String, String> attributes = new LinkedHashMap<>();
            node.path("attributes").fields().forEachRemaining(e -> attributes.put(e.getKey(), e.getValue().asText()));
            return new Checkpoint(node.get("origin").asText(), Offset.of(node.get("offset").asLong()), attributes);
        } catch (java.io.IOException | RuntimeException e) {
            throw new PipelineException("checkpoint in " + checkpoints + " is damaged: " + e.getMessage(), e);
        }
    }

    /** Redis's failures as retryable {@link PipelineException}s that name the store. */
    private <T> Mono<T> io(Supplier<Mono<T>> work) {
        return Mono.defer(work).onErrorMap(e -> !(e instanceof PipelineException),
                e -> new PipelineException("checkpoints of pipeline " + pipeline + " in Redis: " + e.getMessage(), e, true));
    }

    @Override
    public String toString() {
        return "checkpoints in Redis (" + checkpoints + ")";
    }
}
