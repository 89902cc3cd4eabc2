package dev.changepipe.service;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineMetrics;
import dev.changepipe.core.Sink;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * Measures a sink's writes: timer {@value #WRITE}, counters {@value #ITEMS} and {@value #ERRORS},
 * tagged {@code pipeline} and {@code sink}. Delegates everything else unchanged.
 */
final class MeteredSink extends ForwardingSink {

    static final String WRITE = "changepipe.sink.write";
    static final String ITEMS = "changepipe.sink.items";
    static final String ERRORS = "changepipe.sink.errors";

    private final Timer writes;
    private final Counter items;
    private final Counter errors;
    /** The last failed attempt the sink is retrying, and when; cleared by a write that completes. */
    private volatile Throwable retrying;
    private volatile java.time.Instant retryingSince;

    MeteredSink(Sink delegate, String pipeline, MeterRegistry registry) {
        super(delegate);
        this.writes = Timer.builder(WRITE).description("one write (a chunk or a batch of chunks) by one sink")
                .tag(PipelineMetrics.TAG_PIPELINE, pipeline).tag(PipelineMetrics.TAG_SINK, delegate.name())
                .register(registry);
        this.items = Counter.builder(ITEMS).description("items written by one sink")
                .tag(PipelineMetrics.TAG_PIPELINE, pipeline).tag(PipelineMetrics.TAG_SINK, delegate.name())
                .register(registry);
        this.errors = Counter.builder(ERRORS).description("failed writes, and attempts a sink retried, of one sink")
                .tag(PipelineMetrics.TAG_PIPELINE, pipeline).tag(PipelineMetrics.TAG_SINK, delegate.name())
                .register(registry);
        delegate.onRetry(failure -> {
            errors.increment();
            retryingSince = java.time.Instant.now();
            retrying = failure;
        });
    }

    /** The fault the sink is retrying right now, or {@code null}. */
    Throwable retrying() {
        return retrying;
    }

    /** When the sink's last retried attempt failed, or {@code null}. */
    java.time.Instant retryingSince() {
        return retryingSince;
    }

    @Override
    public reactor.core.publisher.Mono<Void> write(Chunk chunk) {
        return measured(() -> delegate().write(chunk), chunk.itemCount());
    }

    @Override
    public reactor.core.publisher.Mono<Void> writeBatch(java.util.List<Chunk> batch) {
        long n = 0;
        for (Chunk chunk : batch) {
            n += chunk.itemCount();
        }
        return measured(() -> delegate().writeBatch(batch), n);
    }

    /** A write of {@code items} items, timed and counted; a completed one ends the sink's retrying. */
    private reactor.core.publisher.Mono<Void> measured(java.util.function.Supplier<reactor.core.publisher.Mono<Void>> write,
            long itemCount) {
        return reactor.core.publisher.Mono.defer(() -> {
            long started = System.nanoTime();
            return write.get()
                    .doOnSuccess(v -> {
                        retrying = null;
                        writes.record(System.nanoTime() - started, java.util.concurrent.TimeUnit.NANOSECONDS);
                        items.increment(itemCount);
                    })
                    .doOnError(e -> errors.increment());
        });
    }
}
