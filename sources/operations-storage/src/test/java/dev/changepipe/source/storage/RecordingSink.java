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

    @Override
    public String name() {
        return "recording";
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return Mono.defer(() -> {
            if (failWith != null) {
                return Mono.error(failWith);
            }
            chunks.add(chunk);
            return Mono.empty();
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
