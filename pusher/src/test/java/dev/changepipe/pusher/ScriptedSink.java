package dev.changepipe.pusher;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * A sink for pusher tests. By default every write completes at once; {@link #hold()} makes writes wait
 * until {@link #release} completes them; {@link #behaviour} scripts anything else. Records the
 * chunks whose writes began and those that completed, in order.
 */
final class ScriptedSink implements Sink {

    private final String name;
    final List<Chunk> started = new CopyOnWriteArrayList<>();
    final List<Chunk> written = new CopyOnWriteArrayList<>();
    /** The batches handed to {@link #writeBatch}, in order. */
    final List<List<Chunk>> batches = new CopyOnWriteArrayList<>();
    private volatile int maxWritesInFlight = 1;
    private final Map<String, Sinks.One<Void>> pending = new ConcurrentHashMap<>();
    private volatile boolean hold;
    private volatile Function<Chunk, Mono<Void>> behaviour = chunk -> Mono.empty();
    private volatile Consumer<Chunk> onWritten = chunk -> { };
    private volatile Function<Chunk, Chunk> prepare = chunk -> chunk;

    ScriptedSink(String name) {
        this.name = name;
    }

    ScriptedSink() {
        this("scripted");
    }

    /** Makes every later write wait for {@link #release}. */
    ScriptedSink hold() {
        hold = true;
        return this;
    }

    /** Declares that this sink's writes commute, allowing {@code writes} at once. */
    ScriptedSink commuting(int writes) {
        this.maxWritesInFlight = writes;
        return this;
    }

    /** Scripts what a write does (after recording that it started). */
    ScriptedSink behaviour(Function<Chunk, Mono<Void>> behaviour) {
        this.behaviour = behaviour;
        return this;
    }

    /** Scripts what {@link #prepare} makes of a parsed chunk. */
    ScriptedSink preparing(Function<Chunk, Chunk> prepare) {
        this.prepare = prepare;
        return this;
    }

    @Override
    public Chunk prepare(Chunk parsed) {
        return prepare.apply(parsed);
    }

    /** Runs after a write completed and was recorded, before the write's Mono completes. */
    ScriptedSink onWritten(Consumer<Chunk> hook) {
        this.onWritten = hook;
        return this;
    }

    /** Completes the held write of the chunk at origin@offset. */
    void release(String origin, long offset) {
        Sinks.One<Void> one = pending.remove(origin + "@" + offset);
        if (one == null) {
            throw new AssertionError("no write of " + origin + "@" + offset + " is held; held: " + pending.keySet());
        }
        one.tryEmitEmpty();
    }

    /** Fails the held write of the chunk at origin@offset. */
    void failHeld(String origin, long offset, RuntimeException error) {
        pending.remove(origin + "@" + offset).tryEmitError(error);
    }

    boolean isHeld(String origin, long offset) {
        return pending.containsKey(origin + "@" + offset);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int maxWritesInFlight() {
        return maxWritesInFlight;
    }

    @Override
    public Mono<Void> writeBatch(List<Chunk> batch) {
        batches.add(batch);
        return Sink.super.writeBatch(batch);
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        started.add(chunk);
        Mono<Void> result = behaviour.apply(chunk);
        if (hold) {
            Sinks.One<Void> one = Sinks.one();
            pending.put(chunk.origin() + "@" + chunk.offset(), one);
            result = result.then(one.asMono());
        }
        return result.doOnSuccess(v -> {
            written.add(chunk);
            onWritten.accept(chunk);
        });
    }
}
