package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import dev.changepipe.core.Source;
import dev.changepipe.pusher.SyncPusher;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

@ExtendWith(RedisServerExtension.class)
class RedisHotStorageSinkIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String USER = "auth.user";

    private static RedisClient client;
    private static RedisURI uri;
    private static RedisKeyspace keyspace;

    private final AtomicLong offsets = new AtomicLong();
    private String prefix;
    private HotStorageOptions options;
    private Sink sink;
    private HotStorageLookup lookup;

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
    void openSink() {
        prefix = RedisKeyspace.uniquePrefix();
        use(HotStorageOptions.builder()
                .keyPrefix(prefix)
                .uniqueConstraint(USER, "email")
                .uniqueConstraint(USER, "username")
                .uniqueConstraint(USER, "first_name", "last_name")
                .build());
    }

    private void use(HotStorageOptions newOptions) {
        closeSink();
        options = newOptions;
        sink = RedisHotStorage.sink(client, uri, options);
        lookup = RedisHotStorage.lookup(client, uri, options);
    }

    @AfterEach
    void closeSink() {
        if (sink != null) {
            sink.close().block(TIMEOUT);
            lookup.close().block(TIMEOUT);
        }
    }

    // ---------------------------------------------------------------- the layout

    @Test
    void createStoresTheObjectItsIndexesTheAllSetAndTheIndexSet() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));

        String p = prefix + USER + ":";
        assertThat(keyspace.snapshot(prefix)).containsOnlyKeys(
                p + "pk:1", p + "pk:1:indexes", p + "all",
                p + "email:ada@example.com", p + "username:ada", p + "first_name:Ada:last_name:Lovelace");
        assertThat(keyspace.redis.get(p + "pk:1")).startsWith("{\"version\":10,");
        assertThat(keyspace.redis.get(p + "email:ada@example.com")).isEqualTo("1");
        assertThat(keyspace.redis.get(p + "first_name:Ada:last_name:Lovelace")).isEqualTo("1");
        assertThat(keyspace.redis.smembers(p + "all")).containsExactly("1");
        assertThat(keyspace.redis.smembers(p + "pk:1:indexes")).containsExactlyInAnyOrder(
                p + "email:ada@example.com", p + "username:ada", p + "first_name:Ada:last_name:Lovelace");

        StoredObject stored = lookup.get(USER, 1L).block(TIMEOUT);
        assertThat(stored.version()).isEqualTo(10);
        assertThat(stored.key()).isEqualTo(Map.of("id", 1L));
        assertThat(stored.fields()).containsEntry("email", "ada@example.com").containsEntry("username", "ada");
    }

    @Test
    void updateThatChangesAUniqueFieldRemovesTheOldIndex() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        write(user(1, 11, "countess@example.com", "ada", "Ada", "King"));

        String p = prefix + USER + ":";
        assertThat(keyspace.keys(prefix)).doesNotContain(p + "email:ada@example.com", p + "first_name:Ada:last_name:Lovelace")
                .contains(p + "email:countess@example.com", p + "first_name:Ada:last_name:King", p + "username:ada");
        assertThat(keyspace.redis.smembers(p + "pk:1:indexes")).containsExactlyInAnyOrder(
                p + "email:countess@example.com", p + "username:ada", p + "first_name:Ada:last_name:King");
        assertThat(keyspace.keys(prefix)).hasSize(6);
        StepVerifier.create(lookup.getByUnique(USER, Map.of("email", "ada@example.com"))).verifyComplete();
        assertThat(lookup.getByUnique(USER, Map.of("email", "countess@example.com")).block(TIMEOUT).version()).isEqualTo(11);
    }

    @Test
    void updateThatKeepsAUniqueFieldKeepsItsIndex() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        Map<String, String> before = keyspace.snapshot(prefix);
        write(user(1, 11, "ada@example.com", "ada", "Ada", "Lovelace"));

        Map<String, String> after = keyspace.snapshot(prefix);
        assertThat(after.keySet()).isEqualTo(before.keySet());
        before.keySet().stream().filter(k -> !k.endsWith(":pk:1"))
                .forEach(k -> assertThat(after.get(k)).as(k).isEqualTo(before.get(k)));
        assertThat(lookup.getByUnique(USER, Map.of("username", "ada")).block(TIMEOUT).version()).isEqualTo(11);
    }

    @Test
    void aNullUniqueFieldIsNotIndexedAndLosesItsOldIndex() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        write(user(1, 11, null, "ada", "Ada", null));

        String p = prefix + USER + ":";
        assertThat(keyspace.keys(prefix)).containsExactlyInAnyOrder(p + "pk:1", p + "pk:1:indexes", p + "all", p + "username:ada");
    }

    @Test
    void deleteLeavesNothingBehind() {
        use(options.toBuilder().tombstoneTtl(Duration.ZERO).build());
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"),
                user(2, 10, "alan@example.com", "alan", "Alan", "Turing"));
        Map<String, String> second = new HashMap<>(keyspace.snapshot(prefix));
        second.keySet().removeIf(k -> k.contains(":pk:1") || k.contains("ada") || k.contains("Ada"));

        write(ChangeItem.delete(USER, Map.of("id", 1L), 11));

        Map<String, String> left = keyspace.snapshot(prefix);
        second.put(prefix + USER + ":all", "[2]");
        assertThat(left).as("exactly the other object's keys").isEqualTo(second);

        write(ChangeItem.delete(USER, Map.of("id", 2L), 11));
        assertThat(keyspace.keys(prefix)).as("scan of the whole keyspace under the prefix").isEmpty();
    }

    @Test
    void deleteLeavesOnlyAnExpiringTombstoneByDefault() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        write(ChangeItem.delete(USER, Map.of("id", 1L), 11));
        String tombstone = prefix + USER + ":pk:1:deleted";
        assertThat(keyspace.keys(prefix)).containsExactly(tombstone);
        assertThat(keyspace.redis.pttl(tombstone)).isBetween(1L, HotStorageOptions.DEFAULT_TOMBSTONE_TTL.toMillis());

        use(options.toBuilder().tombstoneTtl(Duration.ofMillis(200)).build());
        write(user(2, 10, "alan@example.com", "alan", "Alan", "Turing"));
        write(ChangeItem.delete(USER, Map.of("id", 2L), 11));
        keyspace.redis.del(tombstone);
        assertThat(keyspace.keys(prefix)).containsExactly(prefix + USER + ":pk:2:deleted");
        Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(keyspace.keys(prefix)).isEmpty());
    }

    @Test
    void compositeIndexPointsAtThePkAndFollowsUpdates() {
        String choice = "polls.choice";
        use(options.toBuilder().uniqueConstraint(choice, "question", "position").build());
        write(ChangeItem.insert(choice, Map.of("id", 7L), fields("question", 3L, "position", 1L, "text", "Yes"), 1));
        write(ChangeItem.insert(choice, Map.of("id", 8L), fields("question", 3L, "position", 2L, "text", "No"), 1));
        String p = prefix + choice + ":";
        assertThat(keyspace.redis.get(p + "position:1:question:3")).isEqualTo("7");
        assertThat(keyspace.redis.get(p + "position:2:question:3")).isEqualTo("8");

        write(ChangeItem.update(choice, Map.of("id", 7L), fields("question", 3L, "position", 3L, "text", "Yes"), 2));
        assertThat(keyspace.redis.exists(p + "position:1:question:3")).isZero();
        assertThat(keyspace.redis.get(p + "position:3:question:3")).isEqualTo("7");
        assertThat(lookup.getByUnique(choice, Map.of("question", 3, "position", 3)).block(TIMEOUT).key())
                .isEqualTo(Map.of("id", 7L));
        assertThat(lookup.getByUnique(choice, Map.of("position", 2L, "question", 3L)).block(TIMEOUT).fields())
                .containsEntry("text", "No");
    }

    // ---------------------------------------------------------------- versions

    @Test
    void staleVersionIsIgnoredAndChangesNothing() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        Map<String, String> before = keyspace.snapshot(prefix);

        write(user(1, 9, "old@example.com", "old", "Old", "Name"));
        write(ChangeItem.delete(USER, Map.of("id", 1L), 8));
        write(user(1, 10, "same@example.com", "same", "Same", "Version"));

        assertThat(keyspace.snapshot(prefix)).isEqualTo(before);
    }

    @Test
    void versionsAreComparedExactlyBeyondTheDoublePrecisionOfLua() {
        long big = (1L << 62) + 1;  // (1<<62) and (1<<62)+1 are the same double
        write(user(1, big, "new@example.com", "new", "N", "N"));
        write(user(1, big - 1, "old@example.com", "old", "O", "O"));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(big);
        write(user(1, Long.MAX_VALUE, "max@example.com", "max", "M", "M"));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(Long.MAX_VALUE);
        write(user(1, 999_999_999L, "short@example.com", "short", "S", "S"));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).fields()).containsEntry("username", "max");
    }

    @Test
    void replayIsANoOp() {
        List<ChangeItem> first = List.of(
                user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"),
                user(2, 10, "alan@example.com", "alan", "Alan", "Turing"),
                user(1, 11, "countess@example.com", "ada", "Ada", "King"));
        List<ChangeItem> second = List.of(
                ChangeItem.delete(USER, Map.of("id", 2L), 12),
                user(3, 12, "alan@example.com", "alan", "Alan", "Turing"));
        write(first);
        write(second);
        Map<String, String> done = keyspace.snapshot(prefix);

        write(first);
        assertThat(keyspace.snapshot(prefix)).as("replay of an earlier chunk").isEqualTo(done);
        write(first);
        write(second);
        assertThat(keyspace.snapshot(prefix)).as("replay of everything").isEqualTo(done);
    }

    @Test
    void anOlderSaveAfterADeleteIsRefusedWhileTheTombstoneLives() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        write(ChangeItem.delete(USER, Map.of("id", 1L), 12));
        String tombstone = prefix + USER + ":pk:1:deleted";
        assertThat(keyspace.keys(prefix)).containsExactly(tombstone);
        assertThat(keyspace.redis.get(tombstone)).isEqualTo("12");
        assertThat(keyspace.redis.pttl(tombstone)).isBetween(1L, HotStorageOptions.DEFAULT_TOMBSTONE_TTL.toMillis());

        write(user(1, 11, "late@example.com", "late", "L", "L"));
        assertThat(keyspace.keys(prefix)).containsExactly(tombstone);

        write(user(1, 13, "back@example.com", "back", "B", "B"));
        assertThat(keyspace.keys(prefix)).doesNotContain(tombstone).contains(prefix + USER + ":pk:1");
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(13);
    }

    // ---------------------------------------------------------------- escaping

    @Test
    void valuesWithSeparatorsCannotCollideWithOtherKeys() {
        String m = "app.m:pk";  // a model name with the separator, too
        use(options.toBuilder()
                .uniqueConstraint(m, "code")
                .uniqueConstraint(m, "pk")  // a field named like the pk marker
                .uniqueConstraint(m, "a", "b")
                .tombstoneTtl(Duration.ZERO)
                .build());
        List<String> pks = List.of("1", "1:indexes", ":", "%", "%3A", "pk", "", "x\ny", "all", "1:deleted");
        List<String> codes = List.of("a:b", "%3A", "", "\n", "1", "pk:1", ":", "%", "a%3Ab", "1:indexes");
        List<ChangeItem> items = new ArrayList<>();
        for (int i = 0; i < pks.size(); i++) {
            // a and b such that the naive "a:<a>:b:<b>" of neighbours would be the same
            items.add(ChangeItem.insert(m, Map.of("id", pks.get(i)),
                    fields("code", codes.get(i), "pk", pks.get(i), "a", "x:b:" + i, "b", "y"), 1));
            items.add(ChangeItem.insert(m, Map.of("id", "other-" + i),
                    fields("code", "other-" + i, "pk", "o" + i, "a", "x", "b", i + ":b:y"), 1));
        }
        write(items);

        // 2 objects per i, each with its object, index set, and 3 index keys; plus the all set
        assertThat(keyspace.keys(prefix)).hasSize(pks.size() * 2 * 5 + 1);
        for (int i = 0; i < pks.size(); i++) {
            String pk = pks.get(i);
            assertThat(lookup.get(m, pk).block(TIMEOUT).fields()).as("pk %s", pk).containsEntry("code", codes.get(i));
            assertThat(lookup.getByUnique(m, Map.of("code", codes.get(i))).block(TIMEOUT).key()).isEqualTo(Map.of("id", pk));
            assertThat(lookup.getByUnique(m, Map.of("pk", pk)).block(TIMEOUT).key()).isEqualTo(Map.of("id", pk));
            assertThat(lookup.getByUnique(m, Map.of("a", "x:b:" + i, "b", "y")).block(TIMEOUT).key()).isEqualTo(Map.of("id", pk));
            assertThat(lookup.getByUnique(m, Map.of("a", "x", "b", i + ":b:y")).block(TIMEOUT).key())
                    .isEqualTo(Map.of("id", "other-" + i));
        }
        // deleting each object removes exactly its own keys
        for (int i = 0; i < pks.size(); i++) {
            write(ChangeItem.delete(m, Map.of("id", pks.get(i)), 2));
            assertThat(keyspace.keys(prefix)).hasSize((pks.size() * 2 - i - 1) * 5 + 1);
            for (int j = i + 1; j < pks.size(); j++) {
                assertThat(lookup.get(m, pks.get(j)).block(TIMEOUT)).as("pk %s after deleting %s", pks.get(j), pks.get(i))
                        .isNotNull();
            }
        }
    }

    // ---------------------------------------------------------------- races for a unique value

    @Test
    void twoObjectsRacingForTheSameUniqueValueEndConsistentWithTheSourceOrder() {
        String p = prefix + USER + ":";
        // A holds x; B takes x later in the source (A's release not seen yet): B wins, A loses the index.
        write(user(1, 10, "x@example.com", "a", "A", "A"),
                user(2, 10, "x@example.com", "b", "B", "B"));
        assertThat(keyspace.redis.get(p + "email:x@example.com")).isEqualTo("2");
        assertThat(keyspace.redis.smembers(p + "pk:1:indexes")).doesNotContain(p + "email:x@example.com");
        assertThat(keyspace.redis.smembers(p + "pk:2:indexes")).contains(p + "email:x@example.com");
        assertThat(lookup.getByUnique(USER, Map.of("email", "x@example.com")).block(TIMEOUT).key()).isEqualTo(Map.of("id", 2L));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).fields()).as("the older holder keeps its object until its own change")
                .containsEntry("email", "x@example.com");

        // A's own change (moving to y) arrives: it must not take B's index away.
        write(user(1, 11, "y@example.com", "a", "A", "A"));
        assertThat(keyspace.redis.get(p + "email:x@example.com")).isEqualTo("2");
        assertThat(keyspace.redis.get(p + "email:y@example.com")).isEqualTo("1");

        // Deleting A leaves B's indexes; replaying everything changes nothing.
        Map<String, String> beforeDelete = keyspace.snapshot(prefix);
        write(ChangeItem.delete(USER, Map.of("id", 1L), 12));
        assertThat(keyspace.redis.get(p + "email:x@example.com")).isEqualTo("2");
        assertThat(keyspace.redis.get(p + "username:b")).isEqualTo("2");
        Map<String, String> done = keyspace.snapshot(prefix);
        assertThat(done).isNotEqualTo(beforeDelete);
        write(user(1, 10, "x@example.com", "a", "A", "A"),
                user(2, 10, "x@example.com", "b", "B", "B"),
                user(1, 11, "y@example.com", "a", "A", "A"),
                ChangeItem.delete(USER, Map.of("id", 1L), 12));
        assertThat(keyspace.snapshot(prefix)).isEqualTo(done);

        // Every index key points at an object that has that index in its set, and vice versa.
        assertIndexesConsistent(USER);
    }

    @Test
    void anObjectTakingBackAValueLaterInTheSourceWinsIt() {
        String p = prefix + USER + ":";
        write(user(1, 10, "x@example.com", "a", "A", "A"),
                user(2, 10, "x@example.com", "b", "B", "B"),
                user(1, 11, "x@example.com", "a", "A", "A"));
        assertThat(keyspace.redis.get(p + "email:x@example.com")).isEqualTo("1");
        assertThat(keyspace.redis.smembers(p + "pk:2:indexes")).doesNotContain(p + "email:x@example.com");
        assertIndexesConsistent(USER);
    }

    private void assertIndexesConsistent(String model) {
        String p = prefix + model + ":";
        Map<String, String> snapshot = keyspace.snapshot(prefix);
        for (String pk : keyspace.redis.smembers(p + "all")) {
            assertThat(snapshot).containsKey(p + "pk:" + pk);
            for (String index : keyspace.redis.smembers(p + "pk:" + pk + ":indexes")) {
                assertThat(keyspace.redis.get(index)).as("index %s listed by %s", index, pk).isEqualTo(pk);
            }
        }
        snapshot.forEach((key, value) -> {
            if (!key.contains(":pk:") && !key.endsWith(":all")) {
                assertThat(keyspace.redis.smembers(p + "pk:" + value + ":indexes")).as("holder of %s", key).contains(key);
            }
        });
    }

    // ---------------------------------------------------------------- batches

    @Test
    void aChunkOfManyUpdatesAndDeletesIsPipelinedInOrderPerKey() {
        use(options.toBuilder().pipelineSize(64).build());
        Random random = new Random(42);
        Map<Long, Long> versions = new HashMap<>();
        Map<Long, ChangeItem> last = new HashMap<>();
        List<ChangeItem> items = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            long pk = random.nextInt(200);
            long version = versions.merge(pk, 1L, Long::sum);
            ChangeItem item = random.nextInt(5) == 0
                    ? ChangeItem.delete(USER, Map.of("id", pk), version)
                    : user(pk, version, "u" + pk + "v" + version + "@example.com", "u" + pk, "F" + pk, "L" + version);
            items.add(item);
            last.put(pk, item);
        }
        write(items);

        TreeSet<String> live = new TreeSet<>();
        int indexKeys = 0;
        int tombstones = 0;
        for (Map.Entry<Long, ChangeItem> e : last.entrySet()) {
            StoredObject stored = lookup.get(USER, e.getKey()).block(TIMEOUT);
            if (e.getValue().kind().isSave()) {
                assertThat(stored).as("pk %s", e.getKey()).isNotNull();
                assertThat(stored.version()).isEqualTo(e.getValue().version());
                assertThat(stored.fields()).isEqualTo(e.getValue().values());
                live.add(e.getKey().toString());
                indexKeys += 3;
            } else {
                assertThat(stored).as("pk %s deleted last", e.getKey()).isNull();
                assertThat(keyspace.redis.get(prefix + USER + ":pk:" + e.getKey() + ":deleted"))
                        .isEqualTo(Long.toString(e.getValue().version()));
                tombstones++;
            }
        }
        assertThat(new TreeSet<>(keyspace.redis.smembers(prefix + USER + ":all"))).isEqualTo(live);
        assertThat(keyspace.keys(prefix)).hasSize(live.size() * 2 + indexKeys + tombstones + 1);
        assertIndexesConsistent(USER);
    }

    // ---------------------------------------------------------------- faults

    @Test
    void scriptsFlushedFromTheServerAreLoadedAgain() {
        write(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"));
        keyspace.redis.scriptFlush();
        write(user(1, 11, "ada@example.com", "ada2", "Ada", "Lovelace"));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(11);
    }

    @Test
    void aKeyHoldingSomethingElseFailsPermanentlyNamingTheTable() {
        keyspace.redis.set(prefix + USER + ":pk:1", "not an object");
        StepVerifier.create(sink.write(chunk(List.of(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace")))))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("table " + USER)
                            .hasMessageContaining("does not hold a versioned object");
                    assertThat(((SinkException) e).isRetryable()).isFalse();
                })
                .verify(TIMEOUT);
        assertThat(keyspace.redis.get(prefix + USER + ":pk:1")).isEqualTo("not an object");
    }

    @Test
    void aValueThatCannotBeInAKeyFailsPermanentlyAndWritesNothing() {
        ChangeItem bad = user(2, 10, "x@example.com", "x", "X", "X");
        Map<String, Object> values = new LinkedHashMap<>(bad.values());
        values.put("email", List.of("not", "scalar"));
        StepVerifier.create(sink.write(chunk(List.of(user(1, 10, "ada@example.com", "ada", "Ada", "Lovelace"),
                        ChangeItem.insert(USER, Map.of("id", 2L), values, 10)))))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("table " + USER)
                            .hasMessageContaining("field email");
                    assertThat(((SinkException) e).isRetryable()).isFalse();
                })
                .verify(TIMEOUT);
        assertThat(keyspace.keys(prefix)).isEmpty();
    }

    @Test
    void anUnreachableRedisFailsRetryably() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Sink unreachable = RedisHotStorage.sink(client, RedisURI.create("redis://127.0.0.1:" + port), options);
        StepVerifier.create(unreachable.write(chunk(List.of(user(1, 10, "a@b.c", "a", "A", "A")))))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("cannot connect");
                    assertThat(((SinkException) e).isRetryable()).isTrue();
                })
                .verify(TIMEOUT);
    }

    // ---------------------------------------------------------------- in a pipeline

    @Test
    void writesThroughAPipelineAndEveryChunkIsAcknowledged() {
        List<Chunk> chunks = List.of(
                chunk(List.of(user(1, 1, "a@example.com", "a", "A", "A"), user(2, 1, "b@example.com", "b", "B", "B"))),
                chunk(List.of(user(1, 2, "a2@example.com", "a", "A", "A"), ChangeItem.delete(USER, Map.of("id", 2L), 2))),
                Chunk.end("test", Offset.of(offsets.incrementAndGet())));
        List<Ack> acks = new CopyOnWriteArrayList<>();
        Source source = new Source() {
            @Override
            public String name() {
                return "list";
            }

            @Override
            public Flux<Chunk> read() {
                return Flux.fromIterable(chunks);
            }

            @Override
            public Mono<Void> acknowledge(Ack ack) {
                return Mono.fromRunnable(() -> acks.add(ack));
            }
        };
        Pipeline pipeline = Pipeline.builder("hot").source(source).sink(sink).pusher(SyncPusher.factory()).build();
        StepVerifier.create(pipeline.run()).verifyComplete();

        assertThat(acks).hasSize(3);
        assertThat(acks.get(2).originDone()).isTrue();
        sink = RedisHotStorage.sink(client, uri, options);  // the pipeline closed the first one
        assertThat(lookup.getByUnique(USER, Map.of("email", "a2@example.com")).block(TIMEOUT).version()).isEqualTo(2);
        assertThat(lookup.get(USER, 2L).block(TIMEOUT)).isNull();
    }

    // ---------------------------------------------------------------- helpers

    static ChangeItem user(long id, long version, String email, String username, String first, String last) {
        return ChangeItem.update(USER, Map.of("id", id),
                fields("id", id, "email", email, "username", username, "first_name", first, "last_name", last), version);
    }

    static Map<String, Object> fields(Object... pairs) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put((String) pairs[i], pairs[i + 1]);
        }
        return map;
    }

    private Chunk chunk(List<ChangeItem> items) {
        return Chunk.of("test", Offset.of(offsets.incrementAndGet()), items, false);
    }

    private void write(ChangeItem... items) {
        write(Arrays.asList(items));
    }

    private void write(List<ChangeItem> items) {
        sink.write(chunk(items)).block(TIMEOUT);
    }
}
