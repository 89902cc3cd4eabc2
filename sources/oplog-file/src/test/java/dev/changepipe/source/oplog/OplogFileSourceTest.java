package dev.changepipe.source.oplog;

import static dev.changepipe.source.oplog.Logs.append;
import static dev.changepipe.source.oplog.Logs.djangoSave;
import static dev.changepipe.source.oplog.Logs.jsonLine;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.pusher.SyncPusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.test.scheduler.VirtualTimeScheduler;

class OplogFileSourceTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;
    Path log;
    Path checkpointDir;
    CheckpointStore store;
    SimpleMeterRegistry registry;
    final List<Disposable> running = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        Files.createDirectories(dir.resolve("logs"));
        log = dir.resolve("logs/app.log");
        checkpointDir = dir.resolve("checkpoints");
        store = FileCheckpointStore.open(checkpointDir);
        registry = new SimpleMeterRegistry();
    }

    @AfterEach
    void tearDown() {
        running.forEach(Disposable::dispose);
    }

    private OplogFileOptions.Builder json(Path path) {
        return OplogFileOptions.builder(path).format(OplogFileOptions.Format.JSON_LINES)
                .pollInterval(Duration.ofMillis(50));
    }

    private OplogFileSource source(OplogFileOptions options) {
        return OplogFileSource.create(options, store, registry);
    }

    /** Runs a snapshot to its end with the sync pusher. */
    private RecordingSink snapshot(OplogFileOptions.Builder options) {
        RecordingSink sink = new RecordingSink();
        snapshot(options, sink);
        return sink;
    }

    private void snapshot(OplogFileOptions.Builder options, RecordingSink sink) {
        Pipeline.builder("test").source(source(options.mode(OplogFileOptions.Mode.SNAPSHOT).build()))
                .sink(sink).pusher(SyncPusher.factory()).meterRegistry(registry).build()
                .run().block(WAIT);
    }

    /** Starts a following pipeline with the parse-queue pusher. */
    private Pipeline follow(OplogFileSource source, RecordingSink sink) {
        Pipeline pipeline = Pipeline.builder("test").source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build()))
                .meterRegistry(registry).build();
        running.add(pipeline.run().subscribe(v -> { }, e -> { }));
        return pipeline;
    }

    private Checkpoint checkpoint(Path file) {
        return store.load(file.toAbsolutePath().normalize().toString()).block(WAIT);
    }

    private static long position(Checkpoint c) {
        return Long.parseLong(c.attributes().get(FileOrigin.ATTR_POSITION));
    }

    private static long generation(Checkpoint c) {
        return Long.parseLong(c.attributes().get(FileOrigin.ATTR_GENERATION));
    }

    private static String lines(long from, long to) {
        return LongStream.range(from, to).mapToObj(i -> jsonLine("t", i, i)).collect(Collectors.joining());
    }

    private static List<Object> ids(long from, long to) {
        return LongStream.range(from, to).boxed().collect(Collectors.toList());
    }

    // ---- snapshot, partial lines, resume

    @Test
    void snapshotReadsEveryCompleteLineAndCompletesWithTheSyncPusher() {
        append(log, lines(0, 100));
        RecordingSink sink = snapshot(json(log).chunkMaxBytes(512));

        assertThat(sink.values("id")).isEqualTo(ids(0, 100));
        assertThat(sink.chunks).hasSizeGreaterThan(5);
        Checkpoint c = checkpoint(log);
        assertThat(position(c)).isEqualTo(log.toFile().length());
        assertThat(c.attributes().get(FileOrigin.ATTR_DONE)).isEqualTo("true");
        ChangeItem first = sink.items.get(0);
        assertThat(first.kind()).isEqualTo(ChangeItem.Kind.UPDATE);
        assertThat(first.table()).isEqualTo("t");
        assertThat(first.key()).isEqualTo(Map.of("id", 0L));
    }

    @Test
    void partialLastLineIsNotConsumedUntilCompleted() {
        String second = jsonLine("t", 2, 2);
        append(log, jsonLine("t", 1, 1) + second.substring(0, 20));
        RecordingSink first = snapshot(json(log));
        assertThat(first.values("id")).containsExactly(1L);
        assertThat(position(checkpoint(log))).isEqualTo(jsonLine("t", 1, 1).length());

        append(log, second.substring(20));
        RecordingSink next = snapshot(json(log));
        assertThat(next.values("id")).containsExactly(2L);
        assertThat(Files.exists(json(log).build().deadLetterFile())).isFalse();
    }

    @Test
    void resumesFromItsCheckpointAfterARestart() {
        append(log, lines(0, 10));
        assertThat(snapshot(json(log)).values("id")).isEqualTo(ids(0, 10));
        append(log, lines(10, 15));
        assertThat(snapshot(json(log)).values("id")).isEqualTo(ids(10, 15));
        assertThat(snapshot(json(log)).items).isEmpty();
    }

    @Test
    void checkpointNeverRunsAheadOfTheAcks() {
        append(log, lines(0, 50));
        RecordingSink failing = new RecordingSink().failOn(c -> c.items().stream().anyMatch(i -> i.key().get("id").equals(30L)));
        assertThatThrownBy(() -> snapshot(json(log).chunkMaxBytes(200), failing)).hasMessageContaining("told to fail");

        long acked = failing.chunks.stream().mapToLong(c -> Positions.position(c.offset())).max().orElseThrow();
        Checkpoint c = checkpoint(log);
        long linesCheckpointed = c == null ? 0 : lines(0, 50).substring(0, (int) position(c)).chars().filter(ch -> ch == '\n').count();
        // Acks are recorded asynchronously, so the checkpoint may trail the writes, never lead them.
        assertThat(c == null ? 0 : position(c)).isLessThanOrEqualTo(acked);
        assertThat(failing.values("id")).doesNotContain(30L).containsAll(ids(0, linesCheckpointed));

        RecordingSink rest = snapshot(json(log));
        assertThat(rest.values("id")).isEqualTo(ids(linesCheckpointed, 50));
    }

    @Test
    void oneCheckpointSavePerFileForABatchOfChunks() {
        append(log, lines(0, 50));
        java.util.concurrent.atomic.AtomicInteger saves = new java.util.concurrent.atomic.AtomicInteger();
        CheckpointStore file = store;
        CheckpointStore counting = new CheckpointStore() {
            public Mono<Long> claim(String origin) {
                return file.claim(origin);
            }

            public Mono<Checkpoint> load(String origin) {
                return file.load(origin);
            }

            public Mono<Void> save(Checkpoint checkpoint, long token) {
                saves.incrementAndGet();
                return file.save(checkpoint, token);
            }

            public reactor.core.publisher.Flux<Checkpoint> loadAll() {
                return file.loadAll();
            }

            public Mono<Void> delete(String origin) {
                return file.delete(origin);
            }
        };
        // the first write waits until every other chunk is parsed and queued behind it: one batch
        reactor.core.publisher.Sinks.Empty<Void> firstWrite = reactor.core.publisher.Sinks.empty();
        java.util.concurrent.atomic.AtomicInteger chunks = new java.util.concurrent.atomic.AtomicInteger();
        dev.changepipe.core.Sink sink = new dev.changepipe.core.Sink() {
            public String name() {
                return "held";
            }

            public Mono<Void> write(dev.changepipe.core.Chunk chunk) {
                return chunks.getAndIncrement() == 0 ? firstWrite.asMono() : Mono.empty();
            }
        };
        Pipeline pipeline = Pipeline.builder("test")
                .source(OplogFileSource.create(json(log).chunkMaxBytes(200).mode(OplogFileOptions.Mode.SNAPSHOT).build(),
                        counting, registry))
                .sink(sink).pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(2).build()))
                .meterRegistry(registry).build();
        Mono<Void> run = pipeline.run().cache();
        running.add(run.subscribe(v -> { }, e -> { }));
        await().until(() -> pipeline.status().inFlightChunks() > 10
                && pipeline.status().origins().values().stream().allMatch(o -> o.inFlightChunks() > 10));
        int pushed = pipeline.status().inFlightChunks();
        firstWrite.tryEmitEmpty();
        run.block(WAIT);
        // the first chunk's checkpoint, then one for the batch behind it (which ends the file)
        assertThat(saves.get()).isLessThanOrEqualTo(3).isLessThan(pushed);
        assertThat(position(checkpoint(log))).isEqualTo(lines(0, 50).length());
    }

    // ---- follow

    @Test
    void followReactsToAppends() {
        append(log, lines(0, 3));
        RecordingSink sink = new RecordingSink();
        Pipeline pipeline = follow(source(json(log).pollInterval(Duration.ofSeconds(30)).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 3);
        for (int i = 3; i < 30; i += 3) {
            append(log, lines(i, i + 3));
            int expected = i + 3;
            await().atMost(WAIT).until(() -> sink.items.size() == expected);
        }
        assertThat(sink.values("id")).isEqualTo(ids(0, 30));
        await().atMost(WAIT).until(() -> checkpoint(log) != null && position(checkpoint(log)) == log.toFile().length());
        pipeline.stop();
        await().atMost(WAIT).until(() -> pipeline.status().state() == Pipeline.State.STOPPED);
    }

    @Test
    void followFallsBackToPollingWhenNoWatchEventComes() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        append(log, lines(0, 2));
        RecordingSink sink = new RecordingSink();
        follow(OplogFileSource.create(json(log).watchService(false).pollInterval(Duration.ofMinutes(5)).build(),
                store, registry, time), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 2);

        append(log, lines(2, 4));
        time.advanceTimeBy(Duration.ofMinutes(4));
        assertThat(sink.items).hasSize(2);
        await().atMost(WAIT).until(() -> {
            time.advanceTimeBy(Duration.ofMinutes(1));
            return sink.items.size() == 4;
        });
        assertThat(sink.values("id")).isEqualTo(ids(0, 4));
    }

    @Test
    void followModeCutsOneChunkForTheLinesThatArriveWithinTheLinger() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        append(log, lines(0, 1));
        RecordingSink sink = new RecordingSink();
        follow(OplogFileSource.create(json(log).watchService(false).pollInterval(Duration.ofMillis(100))
                .linger(Duration.ofSeconds(1)).build(), store, registry, time), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 1);

        // Ten appends, each seen by a poll, within the second after the first chunk was cut.
        for (long i = 1; i <= 10; i++) {
            append(log, lines(i, i + 1));
            time.advanceTimeBy(Duration.ofMillis(50));
        }
        await().atMost(WAIT).until(() -> {
            time.advanceTimeBy(Duration.ofMillis(100));
            return sink.items.size() == 11;
        });
        assertThat(sink.chunks).hasSize(2);
        assertThat(sink.values("id")).isEqualTo(ids(0, 11));
    }

    @Test
    void followModeCutsAFullChunkAtOnceAndLingersOnlyOnTheRest() {
        VirtualTimeScheduler time = VirtualTimeScheduler.create();
        int lineBytes = jsonLine("t", 10, 10).length();   // ids 10 to 21: lines of the same length
        append(log, lines(0, 1));
        RecordingSink sink = new RecordingSink();
        follow(OplogFileSource.create(json(log).watchService(false).pollInterval(Duration.ofMillis(100))
                .chunkMaxBytes(5 * lineBytes).linger(Duration.ofMinutes(1)).build(), store, registry, time), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 1);

        append(log, lines(10, 22));
        await().atMost(WAIT).until(() -> {
            time.advanceTimeBy(Duration.ofMillis(100));   // polls; far from the end of the linger
            return sink.items.size() >= 11;
        });
        assertThat(sink.items).hasSize(11);
        assertThat(sink.chunks).hasSize(3);
        assertThat(sink.chunks.subList(1, 3)).allSatisfy(c -> assertThat(c.size()).isEqualTo(5 * lineBytes));

        time.advanceTimeBy(Duration.ofMinutes(1));
        await().atMost(WAIT).until(() -> {
            time.advanceTimeBy(Duration.ofMillis(100));
            return sink.items.size() == 13;
        });
        assertThat(sink.chunks).hasSize(4);
        assertThat(sink.values("id").subList(1, 13)).isEqualTo(ids(10, 22));
    }

    @Test
    void truncatedFileIsReadFromTheStartWithANewGeneration() throws IOException {
        append(log, lines(0, 20));
        RecordingSink sink = new RecordingSink();
        follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 20);
        await().atMost(WAIT).until(() -> position(checkpoint(log)) == log.toFile().length());
        long firstGeneration = generation(checkpoint(log));

        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.WRITE)) {
            ch.truncate(0);
        }
        append(log, lines(100, 103));
        await().atMost(WAIT).until(() -> sink.items.size() == 23);
        assertThat(sink.values("id").subList(20, 23)).isEqualTo(ids(100, 103));
        await().atMost(WAIT).until(() -> generation(checkpoint(log)) > firstGeneration
                && position(checkpoint(log)) == log.toFile().length());
        assertVersionsIncrease(sink.items);
    }

    @Test
    void truncatedAndRefilledPastThePositionWhileFollowingIsReadFromTheStart() throws IOException {
        append(log, lines(0, 3));
        RecordingSink sink = new RecordingSink();
        follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 3);
        // copytruncate-style: emptied and written again, longer than before, before the source looks.
        Path tmp = dir.resolve("logs/refill.tmp");
        append(tmp, lines(700, 720));
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.WRITE)) {
            ch.truncate(0);
            ch.write(java.nio.ByteBuffer.wrap(Files.readAllBytes(tmp)), 0);
        }
        await().atMost(WAIT).until(() -> sink.items.size() == 23);
        assertThat(sink.values("id").subList(3, 23)).isEqualTo(ids(700, 720));
        assertVersionsIncrease(sink.items);
    }

    @Test
    void fileShorterThanItsCheckpointIsReadFromTheStartAfterARestart() throws IOException {
        append(log, lines(0, 20));
        snapshot(json(log));
        long before = generation(checkpoint(log));
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.WRITE)) {
            ch.truncate(0);
        }
        append(log, lines(50, 52));
        RecordingSink again = snapshot(json(log));
        assertThat(again.values("id")).isEqualTo(ids(50, 52));
        assertThat(generation(checkpoint(log))).isGreaterThan(before);
    }

    @Test
    void recreatedFileIsReadFromTheStartWithANewGeneration() throws IOException {
        append(log, lines(0, 5));
        RecordingSink first = snapshot(json(log));
        long before = generation(checkpoint(log));
        // A new file under the same name, longer than the checkpoint, so only its identity tells.
        Files.delete(log);
        append(log, lines(200, 230));
        RecordingSink again = snapshot(json(log));
        assertThat(again.values("id")).isEqualTo(ids(200, 230));
        assertThat(generation(checkpoint(log))).isGreaterThan(before);
        assertThat(again.items.get(0).version()).isGreaterThan(first.items.get(4).version());
    }

    @Test
    void recreatedFileWhileFollowingIsReadFromTheStartWithANewGeneration() throws IOException {
        append(log, lines(0, 5));
        RecordingSink sink = new RecordingSink();
        follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 5);
        Path tmp = dir.resolve("logs/new.tmp");
        append(tmp, lines(300, 340));
        Files.move(tmp, log, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        await().atMost(WAIT).until(() -> sink.items.size() == 45);
        assertThat(sink.values("id").subList(5, 45)).isEqualTo(ids(300, 340));
        assertVersionsIncrease(sink.items);
    }

    @Test
    void rotatedFileIsReadToItsEndThroughTheOpenHandleBeforeTheNewOne() throws IOException {
        append(log, lines(0, 5));
        RecordingSink sink = new RecordingSink();
        follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 5);

        // The application writes more, then the log is rotated and a new file started at once.
        append(log, lines(5, 40) + "{\"op\":\"upd");
        Files.move(log, dir.resolve("logs/app.log.1"));
        append(log, lines(1000, 1010));

        await().atMost(WAIT).until(() -> sink.items.size() == 50);
        List<Object> expected = ids(0, 40);
        expected.addAll(ids(1000, 1010));
        assertThat(sink.values("id")).isEqualTo(expected);
        assertVersionsIncrease(sink.items);
        await().atMost(WAIT).until(() -> Files.exists(json(log).build().deadLetterFile()));
        assertThat(Files.readString(json(log).build().deadLetterFile())).contains("unterminated last line");
    }

    @Test
    void rotationWhileStoppedFinishesTheOldFileFirst() throws IOException {
        append(log, lines(0, 5));
        snapshot(json(log));
        append(log, lines(5, 8));
        Files.move(log, dir.resolve("logs/app.log.1"));
        append(log, lines(500, 502));

        RecordingSink sink = snapshot(json(log));
        List<Object> expected = ids(5, 8);
        expected.addAll(ids(500, 502));
        assertThat(sink.values("id")).isEqualTo(expected);
        assertVersionsIncrease(sink.items);
    }

    // ---- directory mode

    @Test
    void directoryIsProcessedInNameOrderWithPerFileCompletion() {
        Path logs = dir.resolve("logs");
        append(logs.resolve("2024-01-02.log"), lines(10, 20));
        append(logs.resolve("2024-01-01.log"), lines(0, 10));
        append(logs.resolve("2024-01-03.log"), lines(20, 30));
        append(logs.resolve("ignored.txt"), lines(90, 95));

        RecordingSink sink = snapshot(json(logs).glob("*.log"));
        assertThat(sink.values("id")).isEqualTo(ids(0, 30));
        assertVersionsIncrease(sink.items);
        for (String name : List.of("2024-01-01.log", "2024-01-02.log", "2024-01-03.log")) {
            Checkpoint c = checkpoint(logs.resolve(name));
            assertThat(c.attributes().get(FileOrigin.ATTR_DONE)).as(name).isEqualTo("true");
        }
        assertThat(checkpoint(logs.resolve("ignored.txt"))).isNull();
    }

    @Test
    void finishedFileIsNotReadAgain() {
        Path logs = dir.resolve("logs");
        append(logs.resolve("a.log"), lines(0, 10));
        snapshot(json(logs));
        append(logs.resolve("b.log"), lines(10, 12));
        RecordingSink sink = snapshot(json(logs));
        assertThat(sink.values("id")).isEqualTo(ids(10, 12));
        assertThat(sink.chunks.stream().map(c -> c.origin()).distinct())
                .containsExactly(logs.resolve("b.log").toString());
    }

    @Test
    void newestFileOfASnapshottedDirectoryIsFollowedWhenItGrows() {
        Path logs = dir.resolve("logs");
        append(logs.resolve("a.log"), lines(0, 2));
        append(logs.resolve("b.log"), lines(2, 4));
        snapshot(json(logs));
        RecordingSink sink = new RecordingSink();
        follow(source(json(logs).build()), sink);
        append(logs.resolve("b.log"), lines(4, 6));
        await().atMost(WAIT).until(() -> sink.items.size() == 2);
        assertThat(sink.values("id")).isEqualTo(ids(4, 6));
    }

    @Test
    void followingADirectoryCompletesAFileOnceALaterOneAppears() {
        Path logs = dir.resolve("logs");
        append(logs.resolve("a.log"), lines(0, 3));
        RecordingSink sink = new RecordingSink();
        Pipeline pipeline = follow(source(json(logs).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 3);
        assertThat(pipeline.status().origins().get(logs.resolve("a.log").toString()).done()).isFalse();

        append(logs.resolve("a.log"), lines(3, 5));
        append(logs.resolve("b.log"), lines(5, 8));
        await().atMost(WAIT).until(() -> sink.items.size() == 8);
        assertThat(sink.values("id")).isEqualTo(ids(0, 8));
        await().atMost(WAIT).until(() -> "true".equals(checkpoint(logs.resolve("a.log")).attributes().get(FileOrigin.ATTR_DONE)));
        assertThat(pipeline.status().origins().get(logs.resolve("a.log").toString()).done()).isTrue();
        assertThat(pipeline.status().origins().get(logs.resolve("b.log").toString()).done()).isFalse();
        assertVersionsIncrease(sink.items);
    }

    // ---- versions

    @Test
    void versionsAreDeterministicForTheirLineAndIncreaseInLogOrder() {
        append(log, djangoSave(1700000000, 1, "a").replace("}}]", "}}, {\"model\": \"polls.choice\", \"pk\": 9, \"fields\": {}}]")
                + lines(0, 0) + djangoSave(1700000001, 1, "b"));
        RecordingSink first = snapshot(OplogFileOptions.builder(log));
        store.delete(log.toString()).block(WAIT);
        // A reset replays the same lines: the generation is handed out again from the checkpoints left.
        RecordingSink replay = snapshot(OplogFileOptions.builder(log));
        assertThat(first.items).hasSize(3);
        assertVersionsIncrease(first.items);
        assertThat(replay.items.stream().map(ChangeItem::version).toList())
                .isEqualTo(first.items.stream().map(ChangeItem::version).toList());
        assertThat(first.items.get(0).version() + 1).isEqualTo(first.items.get(1).version());
    }

    // ---- bad input

    @Test
    void malformedLinesGoToTheDeadLetterFileAndTheStreamGoesOn() throws IOException {
        byte[] invalidUtf8 = {'1', ' ', 'S', 'A', 'V', 'E', ' ', '[', '"', (byte) 0xC3, (byte) 0x28, '"', ']', '\n'};
        append(log, djangoSave(1, 1, "ok"));
        append(log, "2 SAVE [{\"model\": \"polls.question\", \"pk\": 2, \n");                       // broken JSON
        append(log, "3 UPSERT [{\"model\": \"polls.question\", \"pk\": 3, \"fields\": {}}]\n");      // unknown op
        append(log, "4 SAVE [{\"pk\": 4, \"fields\": {}}]\n");                                        // no model
        append(log, "5 DELETE [{\"model\": \"polls.question\", \"fields\": {}}]\n");                  // no pk
        append(log, invalidUtf8);                                                                    // bad UTF-8
        append(log, "6 SAVE [{\"model\": \"polls.question\", \"pk\": 6, \"fields\": {\"t\": \"" + "x".repeat(300) + "\"}}]\n");
        append(log, djangoSave(7, 7, "ok"));

        RecordingSink sink = snapshot(OplogFileOptions.builder(log).maxLineBytes(200));
        assertThat(sink.values("id")).containsExactly(1L, 7L);
        Path deadLetters = OplogFileOptions.builder(log).build().deadLetterFile();
        List<JsonNode> letters = new ArrayList<>();
        for (String line : Files.readAllLines(deadLetters)) {
            letters.add(Json.MAPPER.readTree(line));
        }
        assertThat(letters).hasSize(6);
        assertThat(letters).allSatisfy(l -> {
            assertThat(l.get("origin").asText()).isEqualTo(log.toString());
            assertThat(l.has("offset")).isTrue();
            assertThat(l.has("raw")).isTrue();
        });
        assertThat(letters.stream().map(l -> l.get("reason").asText()).toList())
                .anySatisfy(r -> assertThat(r).startsWith("broken JSON"))
                .anySatisfy(r -> assertThat(r).startsWith("unknown operation 'UPSERT'"))
                .anySatisfy(r -> assertThat(r).contains("no 'model'"))
                .anySatisfy(r -> assertThat(r).contains("no 'pk'"))
                .anySatisfy(r -> assertThat(r).isEqualTo("invalid UTF-8"))
                .anySatisfy(r -> assertThat(r).contains("longer than maxLineBytes 200"));
        JsonNode broken = letters.stream().filter(l -> l.get("reason").asText().startsWith("broken")).findFirst().orElseThrow();
        assertThat(broken.get("offset").asLong()).isEqualTo(djangoSave(1, 1, "ok").length());
        assertThat(broken.get("raw").asText()).isEqualTo("2 SAVE [{\"model\": \"polls.question\", \"pk\": 2, ");
        assertThat(registry.get(OplogMetrics.DEAD_LETTERS).counter().count()).isEqualTo(6.0);
    }

    @Test
    void aChangeWithoutItsRowOrKeyIsDeadLetteredAloneAndTheRestGoesOn() throws IOException {
        String first = "1795000000.2 SAVE [{\"model\": \"polls.choice\", \"pk\": 47, \"fields\": {\"votes\": 1}},"
                + " {\"model\": \"polls.choice\", \"pk\": 48}]\n";
        append(log, first);
        append(log, "1795000000.3 DELETE [{\"model\": \"polls.choice\", \"fields\": {\"votes\": 1}}]\n");
        append(log, djangoSave(1795000001, 49, "ok"));

        RecordingSink sink = snapshot(OplogFileOptions.builder(log));
        assertThat(sink.values("id")).containsExactly(47L, 49L);
        List<JsonNode> letters = deadLetters(OplogFileOptions.builder(log).build().deadLetterFile());
        assertThat(letters).hasSize(2);
        assertThat(letters.get(0).get("offset").asLong()).isZero();
        assertThat(letters.get(0).get("index").asInt()).isEqualTo(1);
        assertThat(letters.get(0).get("reason").asText())
                .isEqualTo("element 1 (polls.choice pk 48) is a SAVE without 'fields'");
        assertThat(letters.get(0).get("raw").asText()).isEqualTo(first.strip());
        assertThat(letters.get(1).get("offset").asLong()).isEqualTo(first.length());
        assertThat(letters.get(1).get("reason").asText()).isEqualTo("element 0 (polls.choice) has no 'pk'");
        assertThat(registry.get(OplogMetrics.DEAD_LETTERS).counter().count()).isEqualTo(2.0);
    }

    @Test
    void aJsonLineWhoseKeyIsNullIsDeadLettered() throws IOException {
        append(log, jsonLine("t", 1, 1) + "{\"op\":\"delete\",\"table\":\"t\",\"key\":{\"id\":null}}\n"
                + jsonLine("t", 2, 2));
        RecordingSink sink = snapshot(json(log));
        assertThat(sink.values("id")).containsExactly(1L, 2L);
        List<JsonNode> letters = deadLetters(json(log).build().deadLetterFile());
        assertThat(letters).singleElement().satisfies(l -> {
            assertThat(l.get("reason").asText()).isEqualTo("key 'id' of t is null");
            assertThat(l.has("index")).isFalse();
        });
    }

    @Test
    void aBadInputReadAgainAfterRestartsIsDeadLetteredOnce() throws IOException {
        append(log, djangoSave(1, 1, "ok"));
        append(log, "2 SAVE [{\"model\": \"polls.question\", \"pk\": 2, \n");
        append(log, "3 SAVE [{\"model\": \"polls.question\", \"pk\": 3}, {\"model\": \"polls.question\", \"pk\": 4}]\n");
        append(log, djangoSave(5, 5, "ok"));
        Path deadLetterFile = OplogFileOptions.builder(log).build().deadLetterFile();
        for (int run = 0; run < 4; run++) {
            // Each run starts without checkpoints: the log is read again from its start, as after a
            // crash before the first acknowledgement, by a new source (a restarted process).
            store = FileCheckpointStore.open(dir.resolve("checkpoints-" + run));
            RecordingSink sink = snapshot(OplogFileOptions.builder(log));
            assertThat(sink.values("id")).containsExactly(1L, 5L);
            assertThat(deadLetters(deadLetterFile)).as("run " + run).hasSize(3);
        }
        assertThat(registry.get(OplogMetrics.DEAD_LETTERS).counter().count()).isEqualTo(3.0);
        assertThat(deadLetters(deadLetterFile).stream().map(l -> l.path("index").asInt(-1)).toList())
                .containsExactly(-1, 0, 1);
    }

    @Test
    void givenThePipelinesStoreTheSourcesLettersGoThereOnceAndNotToAFile() throws IOException {
        append(log, djangoSave(1, 1, "ok"));
        append(log, "2 SAVE [{\"model\": \"polls.question\", \"pk\": 2, \n");
        append(log, "3 SAVE [{\"model\": \"polls.question\", \"pk\": 3}, {\"model\": \"polls.question\", \"pk\": 4}]\n");
        append(log, djangoSave(5, 5, "ok"));
        Path letters = dir.resolve("pipeline.dead-letters.jsonl");
        for (int run = 0; run < 3; run++) {
            store = FileCheckpointStore.open(dir.resolve("checkpoints-" + run));
            dev.changepipe.core.FileDeadLetterStore deadLetters = dev.changepipe.core.FileDeadLetterStore.open(letters,
                    "p", registry);
            RecordingSink sink = snapshot(OplogFileOptions.builder(log).deadLetters(deadLetters));
            assertThat(sink.values("id")).containsExactly(1L, 5L);
            assertThat(deadLetters.list()).as("run " + run).extracting(dev.changepipe.core.DeadLetter::key)
                    .containsExactly(null, "element 0", "element 1");
            deadLetters.close();
        }
        dev.changepipe.core.FileDeadLetterStore reread = dev.changepipe.core.FileDeadLetterStore.open(letters, "p",
                registry);
        assertThat(reread.list()).allSatisfy(l -> {
            assertThat(l.sink()).isNull();
            assertThat(l.origin()).isEqualTo(log.toString());
        });
        assertThat(reread.list().get(0).cause()).isEqualTo("malformed");
        assertThat(reread.list().get(1).cause()).isEqualTo("invalid-change");
        assertThat(reread.list().get(1).reason()).contains("fields");
        assertThat(Files.exists(OplogFileOptions.builder(log).build().deadLetterFile())).isFalse();
        assertThat(registry.get(OplogMetrics.DEAD_LETTERS).counter().count()).isEqualTo(3.0);
    }

    @Test
    void aDeadLetterTornByACrashIsCutOffAndWrittenAgain() throws IOException {
        append(log, djangoSave(1, 1, "ok") + "not a change\n");
        Path deadLetterFile = OplogFileOptions.builder(log).build().deadLetterFile();
        Files.writeString(deadLetterFile, "{\"origin\":\"" + log + "\",\"offset\":");
        snapshot(OplogFileOptions.builder(log));
        List<JsonNode> letters = deadLetters(deadLetterFile);
        assertThat(letters).singleElement()
                .satisfies(l -> assertThat(l.get("offset").asLong()).isEqualTo(djangoSave(1, 1, "ok").length()));
    }

    private static List<JsonNode> deadLetters(Path file) throws IOException {
        List<JsonNode> letters = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            letters.add(Json.MAPPER.readTree(line));
        }
        return letters;
    }

    @Test
    void lineLongerThanTheChunkBufferIsDeadLetteredWithoutHoldingIt() throws IOException {
        append(log, jsonLine("t", 1, 1) + "{\"op\":\"update\"," + "x".repeat(5000) + "\n" + jsonLine("t", 2, 2));
        RecordingSink sink = snapshot(json(log).chunkMaxBytes(256).maxLineBytes(1000));
        assertThat(sink.values("id")).containsExactly(1L, 2L);
        JsonNode letter = Json.MAPPER.readTree(Files.readAllLines(json(log).build().deadLetterFile()).get(0));
        assertThat(letter.get("truncated").asBoolean()).isTrue();
        assertThat(letter.get("length").asLong()).isEqualTo(5015);
        assertThat(letter.get("raw").asText()).hasSize(1000);
        assertThat(sink.chunks).allSatisfy(c -> assertThat(c.size()).isLessThanOrEqualTo(1001));
    }

    @Test
    void failOnMalformedEndsTheRunInsteadOfDeadLettering() {
        append(log, jsonLine("t", 1, 1) + "not json\n" + jsonLine("t", 2, 2));
        RecordingSink sink = new RecordingSink();
        assertThatThrownBy(() -> snapshot(json(log).failOnMalformed(true), sink))
                .hasMessageContaining("malformed line at " + log + ":" + jsonLine("t", 1, 1).length());
        assertThat(Files.exists(json(log).build().deadLetterFile())).isFalse();
        assertThat(checkpoint(log)).isNull();
    }

    // ---- ownership, metrics

    @Test
    void staleClaimStopsTheSource() {
        append(log, lines(0, 3));
        RecordingSink sink = new RecordingSink();
        Pipeline pipeline = follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> sink.items.size() == 3);
        store.claim(log.toString()).block(WAIT); // another instance takes the file over

        append(log, lines(3, 4));
        await().atMost(WAIT).until(() -> pipeline.status().state() == Pipeline.State.FAILED);
        assertThat(pipeline.status().lastError()).contains("claimed again");
    }

    @Test
    void metricsCountBytesLinesAndLagPerFile() {
        String text = lines(0, 10);
        append(log, text);
        RecordingSink sink = new RecordingSink();
        Pipeline pipeline = follow(source(json(log).build()), sink);
        await().atMost(WAIT).until(() -> position(checkpoint(log)) == text.length());
        assertThat(registry.get(OplogMetrics.BYTES_READ).counter().count()).isEqualTo(text.length());
        assertThat(registry.get(OplogMetrics.LINES_READ).counter().count()).isEqualTo(10.0);
        await().atMost(WAIT).until(() -> registry.get(OplogMetrics.LAG_BYTES).tag(OplogMetrics.TAG_ORIGIN, log.toString())
                .gauge().value() == 0.0);
        assertThat(pipeline.status().state()).isEqualTo(Pipeline.State.RUNNING);
    }

    @Test
    void lagIsTheFileSizeMinusTheCheckpoint() {
        append(log, lines(0, 10));
        RecordingSink blocked = new RecordingSink();
        OplogFileSource source = source(json(log).build());
        Pipeline pipeline = Pipeline.builder("lag").source(source).sink(new dev.changepipe.core.Sink() {
            @Override
            public String name() {
                return "never";
            }

            @Override
            public Mono<Void> write(dev.changepipe.core.Chunk chunk) {
                return Mono.never();
            }
        }).pusher(ParseQueuePusher.factory(ParseQueueOptions.defaults())).meterRegistry(registry).build();
        running.add(pipeline.run().subscribe(v -> { }, e -> { }));
        await().atMost(WAIT).until(() -> registry.find(OplogMetrics.LAG_BYTES).gauge() != null
                && registry.find(OplogMetrics.LAG_BYTES).gauge().value() == log.toFile().length());
        assertThat(blocked.items).isEmpty();
        // the status the service shows says the same, without reading meters
        assertThat(source.status().lagBytes()).isEqualTo(log.toFile().length());
    }

    // ---- the seed's example

    @Test
    void rowDeletedThenSavedUnderANewPkWithTheSameUuidReplaysToTheSavedRow() {
        String uuid = "6f0b2c1e-4f5a-4e8e-9d3b-2a1c0e9f8b7d";
        append(log, "1700000000 SAVE [{\"model\": \"polls.question\", \"pk\": 1, \"fields\": {\"uuid\": \"" + uuid
                + "\", \"question_text\": \"old\", \"score\": 1.50}}]\n");
        append(log, "1700000001 DELETE [{\"model\": \"polls.question\", \"pk\": 1, \"fields\": {\"uuid\": \"" + uuid
                + "\", \"question_text\": \"old\", \"score\": 1.50}}]\n");
        append(log, "1700000002 SAVE [{\"model\": \"polls.question\", \"pk\": 2, \"fields\": {\"uuid\": \"" + uuid
                + "\", \"question_text\": \"new\", \"score\": 2.25}}]\n");

        RecordingSink first = snapshot(OplogFileOptions.builder(log));
        // Replay everything (an offset reset): the same items with the same versions.
        store.delete(log.toString()).block(WAIT);
        RecordingSink replay = snapshot(OplogFileOptions.builder(log));

        // A sink keyed by the natural key (ClickHouse ReplacingMergeTree ordered by uuid, hot storage by its
        // unique index) keeps the newest version per key; a delete is a tombstone with its version.
        VersionedTable byUuid = new VersionedTable("uuid");
        byUuid.apply(first.items);
        byUuid.apply(replay.items);
        byUuid.apply(first.items.subList(1, 2)); // a stray replay of the delete alone changes nothing
        assertThat(byUuid.rows).containsOnlyKeys(uuid);
        assertThat(byUuid.rows.get(uuid).kind()).isEqualTo(ChangeItem.Kind.UPDATE);
        assertThat(byUuid.rows.get(uuid).values()).containsEntry("id", 2L).containsEntry("question_text", "new")
                .containsEntry("score", new java.math.BigDecimal("2.25"));

        VersionedTable byPk = new VersionedTable("id");
        byPk.apply(replay.items);
        byPk.apply(first.items);
        assertThat(byPk.rows.get(1L).kind()).isEqualTo(ChangeItem.Kind.DELETE);
        assertThat(byPk.rows.get(2L).kind()).isEqualTo(ChangeItem.Kind.UPDATE);
        assertThat(first.items.get(1).commitTime()).isEqualTo(java.time.Instant.ofEpochSecond(1700000001));
    }

    /** Newest version per key wins; deletes are tombstones. Like ReplacingMergeTree(version) with is_deleted. */
    static final class VersionedTable {
        final String keyField;
        final Map<Object, ChangeItem> rows = new java.util.HashMap<>();

        VersionedTable(String keyField) {
            this.keyField = keyField;
        }

        void apply(List<ChangeItem> items) {
            for (ChangeItem item : items) {
                Object key = item.values().getOrDefault(keyField, item.key().get(keyField));
                ChangeItem old = rows.get(key);
                if (old == null || old.version() < item.version()) {
                    rows.put(key, item);
                }
            }
        }
    }

    static void assertVersionsIncrease(List<ChangeItem> items) {
        for (int i = 1; i < items.size(); i++) {
            assertThat(items.get(i).version()).as("version of item " + i).isGreaterThan(items.get(i - 1).version());
        }
    }

}
