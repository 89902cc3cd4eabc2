package dev.changepipe.service;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Mono;

/**
 * Test sink {@code type: memory}: keeps the items it wrote under {@code id} (shared across runs, since
 * every run builds a new sink) and fails its first {@code failures} writes, and (with {@code failEvery: n})
 * every n-th write; the failures are permanent unless {@code retryable: true}. With {@code hang: true}
 * no write ever completes; with {@code outOfMemory: true} a write allocates until the heap is full.
 */
public final class FlakySinkProvider implements SinkProvider {

    static final Map<String, List<ChangeItem>> WRITTEN = new ConcurrentHashMap<>();
    static final Map<String, AtomicInteger> FAILURES_LEFT = new ConcurrentHashMap<>();
    static final Map<String, AtomicInteger> WRITES = new ConcurrentHashMap<>();

    @Override
    public String type() {
        return "memory";
    }

    record Options(
            @Key(value = "which sink's writes and failures the test reads", required = true) String id,
            @Key(value = "writes that fail first", min = 0, max = 1_000_000) Integer failures,
            @Key(value = "fail every nth write", min = 0, max = 1000) Integer failEvery,
            @Key("failures are retryable") Boolean retryable,
            @Key("writes never complete") Boolean hang,
            @Key("writes throw OutOfMemoryError") Boolean outOfMemory) {
        Options {
            failures = failures == null ? 0 : failures;
            failEvery = failEvery == null ? 0 : failEvery;
            retryable = retryable != null && retryable;
            hang = hang != null && hang;
            outOfMemory = outOfMemory != null && outOfMemory;
        }
    }

    @Override
    public Class<Options> options() {
        return Options.class;
    }

    /** {@code memory-sinks}: what a command a provider adds gets ({@link ContributedCommandTest}). */
    @Override
    public List<CliCommand> commands() {
        return List.of(new ContributedCommandTest.MemorySinksCommand());
    }

    @Override
    public Sink create(Settings settings, ServiceContext context) {
        Options o = settings.bind(Options.class);
        String id = o.id();
        int failures = o.failures();
        int failEvery = o.failEvery();
        boolean retryable = o.retryable();
        boolean hang = o.hang();
        boolean outOfMemory = o.outOfMemory();
        AtomicInteger writes = WRITES.computeIfAbsent(id, k -> new AtomicInteger());
        List<ChangeItem> written = WRITTEN.computeIfAbsent(id, k -> new CopyOnWriteArrayList<>());
        AtomicInteger left = FAILURES_LEFT.computeIfAbsent(id, k -> new AtomicInteger(failures));
        return new Sink() {
            @Override
            public String name() {
                return "memory-" + id;
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                if (hang) {
                    return Mono.never();
                }
                if (outOfMemory) {
                    return Mono.fromRunnable(() -> {
                        List<long[]> hog = new java.util.ArrayList<>();
                        while (true) {
                            hog.add(new long[1 << 20]);
                        }
                    });
                }
                return Mono.defer(() -> {
                    int n = writes.incrementAndGet();
                    if (left.getAndUpdate(l -> Math.max(0, l - 1)) > 0 || failEvery > 0 && n % failEvery == 0) {
                        return Mono.error(retryable
                                ? SinkException.retryable(name(), null, "injected transient failure", null)
                                : SinkException.permanent(name(), null, null, "injected failure", null));
                    }
                    written.addAll(chunk.items());
                    return Mono.empty();
                });
            }
        };
    }
}
