package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Thousands of chunks over several origins through two sinks, with random parse work, random write
 * delays (synchronous, timer-delayed, off-thread) and, in half the runs, one injected parse or write
 * failure. A sampler thread reads the in-flight state continuously. Checks every guarantee that can be
 * observed from outside: the memory bound, write order per sink, acks in push order, no committed offset
 * ahead of an unwritten chunk, the first error ending everything with nothing after it acknowledged,
 * and nothing hanging.
 */
class ParseQueuePusherStressTest {

    private static final int CHUNKS = 3000;
    private static final int ORIGINS = 5;
    private static final long LIMIT = 40_000;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void randomizedStress(long seed) {
        Random random = new Random(seed);
        boolean injectFailure = seed % 2 == 0;
        int failAt = injectFailure ? 500 + random.nextInt(CHUNKS - 1000) : -1;
        boolean failInParse = random.nextBoolean();

        // The chunks, in push order. A few are larger than the limit.
        List<Chunk> chunks = new ArrayList<>();
        Map<String, Long> nextOffset = new HashMap<>();
        for (int i = 0; i < CHUNKS; i++) {
            String origin = "origin-" + random.nextInt(ORIGINS);
            long offset = nextOffset.merge(origin, 1L + random.nextInt(100), Long::sum);
            long size = random.nextInt(50) == 0 ? LIMIT + random.nextInt(10_000) : 100 + random.nextInt(5_000);
            int work = random.nextInt(20_000);
            if (i == failAt && failInParse) {
                chunks.add(TestChunks.failingParse(origin, offset, () -> new IllegalStateException("injected parse failure")));
            } else {
                chunks.add(TestChunks.raw(origin, offset, size, 1 + random.nextInt(5), false, () -> busyWork(work)));
            }
        }
        Chunk failing = failAt >= 0 ? chunks.get(failAt) : null;

        AtomicBoolean boundBroken = new AtomicBoolean();
        AtomicReference<String> violation = new AtomicReference<>();
        AtomicLong samples = new AtomicLong();
        List<Ack> acks = new CopyOnWriteArrayList<>();
        Map<String, Set<Long>> writtenByAll = new ConcurrentHashMap<>();
        AtomicReference<ParseQueuePusher> ref = new AtomicReference<>();

        ScriptedSink first = new ScriptedSink("first").behaviour(c -> randomWrite(c, seed, failing, !failInParse));
        ScriptedSink second = new ScriptedSink("second").behaviour(c -> randomWrite(c, seed * 31, null, false));
        Map<String, List<Long>> pushedOffsets = new HashMap<>();
        for (Chunk c : chunks) {
            pushedOffsets.computeIfAbsent(c.origin(), o -> new ArrayList<>()).add(c.offset().value());
        }

        ParseQueuePusher pusher = ParseQueuePusher.create("stress", List.of(first, second), ack -> {
            sample(ref.get(), boundBroken, samples);
            // Every chunk of the origin at or below the committable offset was written by both sinks.
            if (ack.committable() != null) {
                Set<Long> written = writtenByAll.getOrDefault(ack.origin(), Set.of());
                for (long o : pushedOffsets.get(ack.origin())) {
                    if (o > ack.committable().value()) {
                        break;
                    }
                    if (!written.contains(o)) {
                        violation.compareAndSet(null, "committable " + ack.committable() + " of " + ack.origin()
                                + " passes unwritten chunk at " + o);
                    }
                }
            }
            acks.add(ack);
        }, ParseQueueOptions.builder().parallelism(3).inFlightLimitBytes(LIMIT).build(), new SimpleMeterRegistry());
        ref.set(pusher);

        // A chunk counts as written once both sinks completed it; record that before the ack can run.
        first.onWritten(c -> markWritten(c, second, writtenByAll));
        second.onWritten(c -> markWritten(c, first, writtenByAll));

        AtomicBoolean running = new AtomicBoolean(true);
        Thread sampler = new Thread(() -> {
            while (running.get()) {
                sample(pusher, boundBroken, samples);
                Thread.onSpinWait();
            }
        }, "in-flight-sampler");
        sampler.setDaemon(true);
        sampler.start();

        Throwable error;
        try {
            error = Flux.fromIterable(chunks)
                    .concatMap(c -> pusher.push(c).doOnSuccess(v -> sample(pusher, boundBroken, samples)))
                    .then(Mono.defer(() -> pusher.close(WAIT)))
                    .then(Mono.<Throwable>empty())
                    .onErrorResume(Mono::just)
                    .block(WAIT);
            // Nothing hangs: the pusher has terminated either way.
            pusher.whenTerminated().onErrorResume(e -> Mono.empty()).block(WAIT);
        } finally {
            running.set(false);
        }

        assertThat(violation.get()).isNull();
        assertThat(boundBroken).as("in-flight bytes exceeded the limit with more than one chunk in flight").isFalse();
        assertThat(samples.get()).isGreaterThan(CHUNKS);

        // Writes in push order, per sink; acks in push order.
        List<String> pushOrder = chunks.stream().map(c -> c.origin() + "@" + c.offset()).toList();
        List<String> firstOrder = first.written.stream().map(c -> c.origin() + "@" + c.offset()).toList();
        List<String> secondOrder = second.written.stream().map(c -> c.origin() + "@" + c.offset()).toList();
        List<String> ackOrder = acks.stream().map(a -> a.origin() + "@" + a.offset()).toList();
        assertThat(pushOrder).startsWith(firstOrder.toArray(String[]::new));
        assertThat(pushOrder).startsWith(secondOrder.toArray(String[]::new));
        assertThat(pushOrder).startsWith(ackOrder.toArray(String[]::new));
        // Items inside each written chunk are in order too.
        for (Chunk c : first.written) {
            List<String> ids = c.items().stream().map(ChangeItem::key).map(k -> (String) k.get("id")).toList();
            assertThat(ids).isSorted();
        }

        if (failing == null) {
            assertThat(error).isNull();
            assertThat(ackOrder).isEqualTo(pushOrder);
            assertThat(pusher.inFlightBytes()).isZero();
            pusher.progress().values().forEach(p -> assertThat(p.inFlightChunks()).isZero());
        } else {
            assertThat(error).isInstanceOf(PipelineException.class);
            Throwable terminated = pusher.whenTerminated().then(Mono.<Throwable>empty())
                    .onErrorResume(Mono::just).block(WAIT);
            assertThat(terminated).hasMessageContaining("injected")
                    .hasMessageContaining("origin " + failing.origin() + ", offset " + failing.offset());
            // Nothing at or after the failed chunk is acknowledged.
            assertThat(acks.size()).isLessThanOrEqualTo(failAt);
            assertThat(ackOrder).doesNotContain(failing.origin() + "@" + failing.offset());
        }
    }

    private static void sample(ParseQueuePusher pusher, AtomicBoolean broken, AtomicLong samples) {
        if (pusher == null) {
            return;
        }
        ParseQueuePusher.InFlight f = pusher.inFlight();
        samples.incrementAndGet();
        if (f.bytes() < 0 || f.chunks() < 0 || (f.bytes() > LIMIT && f.chunks() > 1)) {
            broken.set(true);
        }
    }

    private static void markWritten(Chunk c, ScriptedSink other, Map<String, Set<Long>> writtenByAll) {
        synchronized (writtenByAll) {
            if (other.written.stream().anyMatch(w -> w.origin().equals(c.origin()) && w.offset().equals(c.offset()))) {
                writtenByAll.computeIfAbsent(c.origin(), o -> ConcurrentHashMap.newKeySet()).add(c.offset().value());
            }
        }
    }

    private static Mono<Void> randomWrite(Chunk chunk, long seed, Chunk failing, boolean failHere) {
        if (failHere && failing != null && chunk.origin().equals(failing.origin()) && chunk.offset().equals(failing.offset())) {
            return Mono.error(new IllegalStateException("injected write failure"));
        }
        int kind = (int) Math.floorMod(chunk.offset().value() * 7919 + seed + chunk.origin().hashCode(), 3);
        return switch (kind) {
            case 0 -> Mono.empty();
            case 1 -> Mono.delay(Duration.ofNanos(Math.floorMod(seed * chunk.offset().value(), 200_000))).then();
            default -> Mono.<Void>empty().publishOn(Schedulers.boundedElastic());
        };
    }

    private static volatile long sink;

    private static void busyWork(int iterations) {
        long h = 1125899906842597L;
        for (int i = 0; i < iterations; i++) {
            h = 31 * h + i;
        }
        sink = h;
    }
}
