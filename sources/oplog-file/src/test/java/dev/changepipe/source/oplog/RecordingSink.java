package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import dev.changepipe.core.SinkException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import reactor.core.publisher.Mono;

/** A sink that keeps what it was given, and can be told to fail on a chunk. */
final class RecordingSink implements Sink {

    final List<ChangeItem> items = new CopyOnWriteArrayList<>();
    final List<Chunk> chunks = new CopyOnWriteArrayList<>();
    private volatile Predicate<Chunk> failOn = c -> false;

    @Override
    public String name() {
        return "recording";
    }

    RecordingSink failOn(Predicate<Chunk> predicate) {
        this.failOn = predicate;
        return this;
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return Mono.fromRunnable(() -> {
            if (failOn.test(chunk)) {
                throw SinkException.permanent("recording", null, null, "told to fail on " + chunk, null);
            }
            chunks.add(chunk);
            items.addAll(chunk.items());
        });
    }

    /** The value of {@code field} of every item, in order. */
    List<Object> values(String field) {
        List<Object> out = new ArrayList<>();
        for (ChangeItem item : items) {
            out.add(item.values().get(field));
        }
        return out;
    }
}
