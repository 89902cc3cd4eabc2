package dev.changepipe.service;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ServiceContext;
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

    /** {@code memory-sinks}: what a command a provider adds gets ({@link ContributedCommandTest}). */
    @Override
    public List<CliCommand> commands() {
        return List.of(new ContributedCommandTest.MemorySinksCommand());
    }

    @Override
    public Sink create(Settings settings, ServiceContext context) {
        String id = settings.string("id");
        int failures = settings.integer("failures", 0, 0, 1_000_000);
        int failEvery = settings.integer("failEvery", 0, 0, 1000);
        boolean retryable = settings.bool("retryable", false);
        boolean hang = settings.bool("hang", false);
        boolean outOfMemory = settings.bool("outOfMemory", false);
        settings.checkNoUnknownKeys();
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
                return Mono.fromRunnable(() -> {
                    int n = writes.incrementAndGet();
                    if (left.getAndUpdate(l -> Math.max(0, l - 1)) > 0 || failEvery > 0 && n % failEvery == 0) {
                        throw retryable
                                ? SinkException.retryable(name(), null, "injected transient failure", null)
                                : SinkException.permanent(name(), null, null, "injected failure", null);
                    }
                    written.addAll(chunk.items());
                });
            }
        };
    }
}
