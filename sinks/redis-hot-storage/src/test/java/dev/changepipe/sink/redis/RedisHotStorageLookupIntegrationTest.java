package dev.changepipe.sink.redis;

import static dev.changepipe.sink.redis.RedisHotStorageSinkIntegrationTest.fields;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.test.StepVerifier;

@ExtendWith(RedisServerExtension.class)
class RedisHotStorageLookupIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String CHOICE = "polls.choice";

    private static RedisClient client;
    private static RedisURI uri;
    private static RedisKeyspace keyspace;

    private final AtomicLong offsets = new AtomicLong();
    private Sink sink;
    private HotStorageLookup lookup;
    private HotStorageOptions options;

    @BeforeAll
    static void connect(RedisServer redis) {
        client = RedisClient.create();
        uri = RedisURI.create(redis.uri());
        keyspace = new RedisKeyspace(client, uri);
    }

    @AfterAll
    static void disconnect() {
        keyspace.close();
        client.shutdown();
    }

    @BeforeEach
    void writeChoices() {
        options = HotStorageOptions.builder()
                .keyPrefix(RedisKeyspace.uniquePrefix())
                .uniqueConstraint(CHOICE, "question", "position")
                .uniqueConstraint(CHOICE, "slug")
                .build();
        sink = RedisHotStorage.sink(client, uri, options);
        lookup = RedisHotStorage.lookup(client, uri, options);
        write(choice(1, 1, 10L, 1L, "yes", "Yes", new BigDecimal("0.50")),
                choice(2, 1, 10L, 2L, "no", "No", new BigDecimal("1.25")),
                choice(3, 4, 11L, 1L, "maybe", "Maybe", null));
    }

    @AfterEach
    void close() {
        sink.close().block(TIMEOUT);
        lookup.close().block(TIMEOUT);
    }

    @Test
    void getByPkReturnsTheObjectWithItsVersionInOneRoundTrip() {
        StoredObject three = roundTrips(Map.of("get", 1L), () -> lookup.get(CHOICE, 3L).block(TIMEOUT));
        assertThat(three.model()).isEqualTo(CHOICE);
        assertThat(three.key()).isEqualTo(Map.of("id", 3L));
        assertThat(three.version()).isEqualTo(4);
        assertThat(three.fields()).containsEntry("slug", "maybe").containsEntry("question", 11L).containsEntry("votes", null);
        assertThat(lookup.get(CHOICE, 1).block(TIMEOUT).fields()).as("an Integer pk finds a Long pk")
                .containsEntry("votes", new BigDecimal("0.50"));
        StepVerifier.create(lookup.get(CHOICE, 99L)).verifyComplete();
        StepVerifier.create(lookup.get("polls.unknown", 1L)).verifyComplete();
    }

    @Test
    void manyPksAtOnceWithOneMget() {
        List<StoredObject> found = roundTrips(Map.of("mget", 1L),
                () -> lookup.getAll(CHOICE, List.of(3L, 99L, 1L, 2L)).collectList().block(TIMEOUT));
        assertThat(found).extracting(o -> o.key().get("id")).containsExactly(3L, 1L, 2L);
        StepVerifier.create(lookup.getAll(CHOICE, List.of())).verifyComplete();
    }

    @Test
    void getByUniqueFieldsInAtMostTwoRoundTrips() {
        StoredObject yes = roundTrips(Map.of("get", 2L),
                () -> lookup.getByUnique(CHOICE, Map.of("slug", "yes")).block(TIMEOUT));
        assertThat(yes.key()).isEqualTo(Map.of("id", 1L));
        assertThat(lookup.getByUnique(CHOICE, Map.of("position", 2, "question", 10)).block(TIMEOUT).key())
                .as("composite, any order, Integer values")
                .isEqualTo(Map.of("id", 2L));
        StepVerifier.create(lookup.getByUnique(CHOICE, Map.of("slug", "nope"))).verifyComplete();
        StepVerifier.create(lookup.getByUnique(CHOICE, Map.of("question", 10L))).as("not a declared constraint: no index")
                .verifyComplete();
        StepVerifier.create(lookup.getByUnique(CHOICE, Map.of())).expectError(IllegalArgumentException.class).verify(TIMEOUT);
    }

    @Test
    void findFiltersFieldsBeyondTheUniqueConstraintInTheApplication() {
        assertThat(lookup.find(CHOICE, Map.of("slug", "no", "text", "No")).block(TIMEOUT).key()).isEqualTo(Map.of("id", 2L));
        assertThat(lookup.find(CHOICE, Map.of("question", 10L, "position", 1L, "votes", new BigDecimal("0.5")))
                .block(TIMEOUT).key())
                .as("numbers compare by value")
                .isEqualTo(Map.of("id", 1L));
        StepVerifier.create(lookup.find(CHOICE, Map.of("slug", "no", "text", "Yes"))).verifyComplete();
        StepVerifier.create(lookup.find(CHOICE, Map.of("slug", "maybe", "votes", 1L))).verifyComplete();
        StoredObject maybe = roundTrips(Map.of("get", 2L),
                () -> lookup.find(CHOICE, Map.of("slug", "maybe", "text", "Maybe")).block(TIMEOUT));
        assertThat(maybe.version()).isEqualTo(4);
        StepVerifier.create(lookup.find(CHOICE, Map.of("text", "No", "question", 10L)))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("no unique constraint"))
                .verify(TIMEOUT);
    }

    @Test
    void anIndexThatNoLongerMatchesItsObjectIsNotFollowed() {
        // As if the object changed between the two reads: the index points at an object without the value.
        keyspace.redis.set(options.keyPrefix() + CHOICE + ":slug:stale", "1");
        StepVerifier.create(lookup.getByUnique(CHOICE, Map.of("slug", "stale"))).verifyComplete();
    }

    @Test
    void aNullValueMatchesNothing() {
        java.util.HashMap<String, Object> fields = new java.util.HashMap<>();
        fields.put("slug", null);
        StepVerifier.create(lookup.getByUnique(CHOICE, fields)).verifyComplete();
    }

    @Test
    void anUnreachableRedisFailsRetryably() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        HotStorageLookup unreachable = RedisHotStorage.lookup(client, RedisURI.create("redis://127.0.0.1:" + port), options);
        StepVerifier.create(unreachable.get(CHOICE, 1L))
                .expectErrorSatisfies(e -> assertThat(PipelineException.isRetryable(e)).as(e.toString()).isTrue())
                .verify(TIMEOUT);
    }

    // ---------------------------------------------------------------- helpers

    /** Runs a lookup and checks how many commands of each kind the server executed meanwhile. */
    private <T> T roundTrips(Map<String, Long> expected, Supplier<T> lookupCall) {
        lookup.get(CHOICE, -1L).block(TIMEOUT);  // the lookup's connection is open before counting
        Map<String, Long> before = commandCalls();
        T result = lookupCall.get();
        Map<String, Long> after = commandCalls();
        expected.forEach((command, calls) ->
                assertThat(after.getOrDefault(command, 0L) - before.getOrDefault(command, 0L)).as(command).isEqualTo(calls));
        for (String other : List.of("get", "mget", "evalsha", "eval", "smembers")) {
            if (!expected.containsKey(other)) {
                assertThat(after.getOrDefault(other, 0L) - before.getOrDefault(other, 0L)).as(other).isZero();
            }
        }
        return result;
    }

    private static Map<String, Long> commandCalls() {
        Map<String, Long> calls = new java.util.HashMap<>();
        Matcher m = Pattern.compile("cmdstat_([a-z|]+):calls=(\\d+)").matcher(keyspace.redis.info("commandstats"));
        while (m.find()) {
            calls.put(m.group(1), Long.parseLong(m.group(2)));
        }
        return calls;
    }

    private static ChangeItem choice(long id, long version, Long question, Long position, String slug, String text,
            BigDecimal votes) {
        return ChangeItem.insert(CHOICE, Map.of("id", id),
                fields("question", question, "position", position, "slug", slug, "text", text, "votes", votes), version);
    }

    private void write(ChangeItem... items) {
        sink.write(Chunk.of("test", Offset.of(offsets.incrementAndGet()), Arrays.asList(items), false)).block(TIMEOUT);
    }
}
