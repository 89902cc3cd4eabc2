package dev.changepipe.source.storage;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import reactor.core.publisher.Mono;

/** A sink that keeps what it was given, applies it as ReplacingMergeTree would, and can fail on demand. */
final class RecordingSink implements Sink {

    final List<Chunk> chunks = new CopyOnWriteArrayList<>();
    volatile RuntimeException failWith;
    /** Fails the writes of chunks from this one on (1-based), with {@link #failWith}. */
    volatile int failFromChunk = 1;
    /** Runs before each write is recorded: a test holds a write here. */
    volatile java.util.function.Function<Chunk, Mono<Void>> before = chunk -> Mono.empty();
    private final java.util.concurrent.atomic.AtomicInteger writes = new java.util.concurrent.atomic.AtomicInteger();

    @Override
    public String name() {
        return "recording";
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return Mono.defer(() -> {
            if (failWith != null && writes.incrementAndGet() >= failFromChunk) {
                return Mono.error(failWith);
            }
            return before.apply(chunk).then(Mono.fromRunnable(() -> chunks.add(chunk)));
        });
    }

    List<ChangeItem> items() {
        List<ChangeItem> all = new ArrayList<>();
        chunks.forEach(c -> all.addAll(c.items()));
        return all;
    }

    /** The state per key: the item with the highest version, the later one on a tie. */
    Map<Object, ChangeItem> state() {
        Map<Object, ChangeItem> state = new HashMap<>();
        for (ChangeItem item : items()) {
            Object key = item.key().values().iterator().next();
            ChangeItem old = state.get(key);
            if (old == null || item.version() >= old.version()) {
                state.put(key, item);
            }
        }
        return state;
    }
}
