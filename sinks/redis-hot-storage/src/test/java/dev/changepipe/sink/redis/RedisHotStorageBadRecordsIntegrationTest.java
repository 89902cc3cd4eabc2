package dev.changepipe.sink.redis;

import static dev.changepipe.sink.redis.RedisHotStorageSinkIntegrationTest.user;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.OnBadRecord;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/**
 * One bad record costs one dead letter and nothing else (DESIGN.md section 8a); a batch of chunks is
 * one pipeline in push order; two batches in flight at once still end in the newest versions.
 */
@ExtendWith(RedisServerExtension.class)
class RedisHotStorageBadRecordsIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String USER = "auth.user";

    private static RedisClient client;
    private static RedisURI uri;
    private static RedisKeyspace keyspace;

    private final AtomicLong offsets = new AtomicLong();
    private final List<Sink> sinks = new ArrayList<>();
    @TempDir
    Path dir;
    private String prefix;
    private FileDeadLetterStore store;
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
    void open() {
        prefix = RedisKeyspace.uniquePrefix();
        store = FileDeadLetterStore.open(dir.resolve("dead-letters.jsonl"), "hot", new SimpleMeterRegistry());
        lookup = RedisHotStorage.lookup(client, uri, options(b -> { }));
    }

    @AfterEach
    void close() {
        sinks.forEach(s -> s.close().block(TIMEOUT));
        lookup.close().block(TIMEOUT);
        store.close();
    }

    @Test
    void oneBadRecordCostsOneDeadLetterAndTheRestOfTheBatchIsWritten() {
        keyspace.redis.set(prefix + USER + ":pk:3", "not an object");
        Sink sink = sink(b -> { });
        Map<String, Object> listEmail = new LinkedHashMap<>(user(2, 11, "x", "b", "B", "B").values());
        listEmail.put("email", List.of("not", "scalar"));
        Map<String, Object> nullPk = new LinkedHashMap<>();
        nullPk.put("id", null);
        List<ChangeItem> items = List.of(
                user(1, 10, "a@example.com", "a", "A", "A"),
                ChangeItem.update(USER, Map.of("id", 2L), listEmail, 11),
                user(3, 12, "c@example.com", "c", "C", "C"),
                ChangeItem.update(USER, nullPk, Map.of("email", "n@example.com"), 13),
                user(4, 14, "d@example.com", "d", "D", "D"));
        Chunk first = chunk(items.subList(0, 2));
        Chunk second = chunk(items.subList(2, 5));

        sink.writeBatch(List.of(first, second)).as(StepVerifier::create).verifyComplete();

        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(10);
        assertThat(lookup.get(USER, 4L).block(TIMEOUT).version()).isEqualTo(14);
        assertThat(lookup.get(USER, 2L).block(TIMEOUT)).isNull();
        assertThat(keyspace.redis.get(prefix + USER + ":pk:3")).isEqualTo("not an object");
        Map<Long, DeadLetter> letters = store.list().stream().collect(Collectors.toMap(DeadLetter::position, l -> l));
        assertThat(letters.keySet()).containsExactlyInAnyOrder(11L, 12L, 13L);
        assertThat(letters.get(11L).cause()).isEqualTo("bad-key");
        assertThat(letters.get(11L).reason()).contains("table " + USER, "field email");
        assertThat(letters.get(12L).cause()).isEqualTo("key-conflict");
        assertThat(letters.get(12L).reason()).contains("table " + USER, "{id=3}", "does not hold a versioned object");
        assertThat(letters.get(13L).cause()).isEqualTo("bad-key");
        assertThat(letters.get(13L).reason()).contains("null");
        assertThat(letters.get(12L).origin()).isEqualTo("test");
        assertThat(letters.get(12L).sink()).isEqualTo(HotStorageOptions.DEFAULT_SINK_NAME);

        // A replay stores no letter twice and changes nothing.
        Map<String, String> before = keyspace.snapshot(prefix);
        sink.writeBatch(List.of(first, second)).as(StepVerifier::create).verifyComplete();
        sink(b -> { }).write(chunk(items)).as(StepVerifier::create).verifyComplete();
        assertThat(keyspace.snapshot(prefix)).isEqualTo(before);
        assertThat(store.list()).hasSize(3);
    }

    @Test
    void withoutAStoreOrWithFailARefusedItemFailsTheWrite() {
        keyspace.redis.set(prefix + USER + ":pk:3", "not an object");
        for (Sink sink : List.of(sink(b -> b.deadLetters(null)), sink(b -> b.onBadRecord(OnBadRecord.FAIL)))) {
            sink.write(chunk(List.of(user(3, 12, "c@example.com", "c", "C", "C")))).as(StepVerifier::create)
                    .expectErrorSatisfies(e -> {
                        assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("does not hold");
                        assertThat(((SinkException) e).isRetryable()).isFalse();
                    })
                    .verify(TIMEOUT);
        }
        assertThat(store.list()).isEmpty();
    }

    @Test
    void aBatchIsWrittenInPushOrderAcrossItsChunks() {
        Sink sink = sink(b -> b.pipelineSize(2));
        Chunk first = chunk(List.of(user(1, 1, "a@example.com", "a", "A", "A"), user(2, 2, "b@example.com", "b", "B", "B")));
        Chunk second = chunk(List.of(ChangeItem.delete(USER, Map.of("id", 1L), 3),
                user(2, 4, "a@example.com", "b", "B", "B")));
        Chunk third = chunk(List.of(user(1, 5, "z@example.com", "a", "A", "A")));
        sink.writeBatch(List.of(first, second, third)).as(StepVerifier::create).verifyComplete();
        assertThat(lookup.getByUnique(USER, Map.of("email", "a@example.com")).block(TIMEOUT).key())
                .isEqualTo(Map.of("id", 2L));
        assertThat(lookup.get(USER, 1L).block(TIMEOUT).version()).isEqualTo(5);
        assertThat(lookup.getByUnique(USER, Map.of("email", "b@example.com")).block(TIMEOUT)).isNull();
    }

    @Test
    void twoOverlappedBatchesTouchingTheSameKeysEndInTheNewestVersion() {
        Sink sink = sink(b -> b.pipelineSize(7));
        assertThat(sink.maxWritesInFlight()).isEqualTo(2);
        int users = 300;
        List<ChangeItem> older = new ArrayList<>();
        List<ChangeItem> newer = new ArrayList<>();
        for (int i = 1; i <= users; i++) {
            older.add(user(i, 100 + i, "old" + i + "@example.com", "old" + i, "O", "U" + i));
            newer.add(i % 10 == 0 ? ChangeItem.delete(USER, Map.of("id", (long) i), 1000 + i)
                    : user(i, 1000 + i, "new" + i + "@example.com", "new" + i, "N", "U" + i));
        }
        List<Chunk> olderBatch = List.of(chunk(older.subList(0, 150)), chunk(older.subList(150, users)));
        List<Chunk> newerBatch = List.of(chunk(newer.subList(0, 100)), chunk(newer.subList(100, users)));
        // Both in flight at once, in either order of arrival: the newer versions win every key.
        Mono.when(sink.writeBatch(newerBatch), sink.writeBatch(olderBatch)).block(TIMEOUT);
        assertNewest(users);
        Mono.when(sink.writeBatch(olderBatch), sink.writeBatch(newerBatch)).block(TIMEOUT);
        assertNewest(users);
    }

    private void assertNewest(int users) {
        for (int i = 1; i <= users; i++) {
            StoredObject object = lookup.get(USER, (long) i).block(TIMEOUT);
            assertThat(lookup.getByUnique(USER, Map.of("email", "old" + i + "@example.com")).block(TIMEOUT))
                    .as("old index of %d", i).isNull();
            if (i % 10 == 0) {
                assertThat(object).as("user %d", i).isNull();
                continue;
            }
            assertThat(object.version()).as("user %d", i).isEqualTo(1000 + i);
            assertThat(lookup.getByUnique(USER, Map.of("email", "new" + i + "@example.com")).block(TIMEOUT).version())
                    .isEqualTo(1000 + i);
        }
    }

    private HotStorageOptions options(Consumer<HotStorageOptions.Builder> settings) {
        HotStorageOptions.Builder b = HotStorageOptions.builder()
                .keyPrefix(prefix)
                .uniqueConstraint(USER, "email")
                .uniqueConstraint(USER, "username")
                .deadLetters(store);
        settings.accept(b);
        return b.build();
    }

    private Sink sink(Consumer<HotStorageOptions.Builder> settings) {
        Sink sink = RedisHotStorage.sink(client, uri, options(settings));
        sinks.add(sink);
        return sink;
    }

    private Chunk chunk(List<ChangeItem> items) {
        return Chunk.of("test", Offset.of(offsets.incrementAndGet()), items, false);
    }
}
