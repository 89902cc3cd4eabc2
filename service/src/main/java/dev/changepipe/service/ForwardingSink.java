package dev.changepipe.service;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import java.util.List;
import java.util.function.Consumer;
import reactor.core.publisher.Mono;

/** A sink that hands everything to another; subclasses change what they wrap (measuring, fencing). */
abstract class ForwardingSink implements Sink {

    private final Sink delegate;

    ForwardingSink(Sink delegate) {
        this.delegate = delegate;
    }

    /** The sink this one wraps. */
    Sink delegate() {
        return delegate;
    }

    @Override
    public String name() {
        return delegate.name();
    }

    @Override
    public Mono<Void> write(Chunk chunk) {
        return delegate.write(chunk);
    }

    @Override
    public Mono<Void> writeBatch(List<Chunk> batch) {
        return delegate.writeBatch(batch);
    }

    @Override
    public Chunk prepare(Chunk parsed) {
        return delegate.prepare(parsed);
    }

    @Override
    public int maxWritesInFlight() {
        return delegate.maxWritesInFlight();
    }

    @Override
    public void onRetry(Consumer<Throwable> listener) {
        delegate.onRetry(listener);
    }

    @Override
    public Mono<Void> close() {
        return delegate.close();
    }
}
