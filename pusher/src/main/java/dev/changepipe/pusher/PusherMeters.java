package dev.changepipe.pusher;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineMetrics;
import dev.changepipe.core.Pusher;
import dev.changepipe.core.Sink;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import reactor.core.publisher.Mono;

/** The meters of one pusher, removed from the registry when the pusher ends. */
final class PusherMeters {

    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    final Counter pushedChunks;
    final Counter ackedChunks;
    final Counter ackedItems;
    final Timer parse;
    final Timer write;
    final Timer endToEnd;

    PusherMeters(MeterRegistry registry, String pipeline, Pusher pusher) {
        this.registry = registry;
        Tags tags = Tags.of(PipelineMetrics.TAG_PIPELINE, pipeline);
        // The meters of an earlier pusher of the same pipeline stay until this one replaces them, so a
        // pipeline that completed still shows its figures.
        for (String meter : List.of(PipelineMetrics.INFLIGHT_BYTES, PipelineMetrics.INFLIGHT_CHUNKS,
                PipelineMetrics.PUSHED_CHUNKS, PipelineMetrics.ACKED_CHUNKS, PipelineMetrics.ACKED_ITEMS,
                PipelineMetrics.PARSE_TIME, PipelineMetrics.WRITE_TIME, PipelineMetrics.END_TO_END_TIME)) {
            registry.find(meter).tags(tags).meters().forEach(registry::remove);
        }
        meters.add(Gauge.builder(PipelineMetrics.INFLIGHT_BYTES, pusher, Pusher::inFlightBytes)
                .tags(tags).baseUnit("bytes").description("bytes admitted and not yet acknowledged").register(registry));
        meters.add(Gauge.builder(PipelineMetrics.INFLIGHT_CHUNKS, pusher, Pusher::inFlightChunks)
                .tags(tags).description("chunks admitted and not yet acknowledged").register(registry));
        pushedChunks = add(Counter.builder(PipelineMetrics.PUSHED_CHUNKS).tags(tags).register(registry));
        ackedChunks = add(Counter.builder(PipelineMetrics.ACKED_CHUNKS).tags(tags).register(registry));
        ackedItems = add(Counter.builder(PipelineMetrics.ACKED_ITEMS).tags(tags).register(registry));
        parse = add(Timer.builder(PipelineMetrics.PARSE_TIME).tags(tags).register(registry));
        write = add(Timer.builder(PipelineMetrics.WRITE_TIME).tags(tags).register(registry));
        endToEnd = add(Timer.builder(PipelineMetrics.END_TO_END_TIME).tags(tags).register(registry));
    }

    private <M extends Meter> M add(M meter) {
        meters.add(meter);
        return meter;
    }

    void acked(int items, long admittedNanos) {
        ackedChunks.increment();
        ackedItems.increment(items);
        endToEnd.record(System.nanoTime() - admittedNanos, TimeUnit.NANOSECONDS);
    }


    /** Writes a parsed chunk to every sink at once; completes when all confirmed. */
    static Mono<Void> writeAll(List<Sink> sinks, Chunk parsed) {
        if (parsed.items().isEmpty()) {
            return Mono.empty();
        }
        if (sinks.size() == 1) {
            Sink sink = sinks.get(0);
            return Mono.defer(() -> sink.write(parsed));
        }
        List<Mono<Void>> writes = new ArrayList<>(sinks.size());
        for (Sink sink : sinks) {
            writes.add(Mono.defer(() -> sink.write(parsed)));
        }
        return Mono.when(writes);
    }

    /**
     * Writes a batch of parsed chunks that hold items to every sink at once, each sink the whole batch
     * as one {@link Sink#writeBatch}; completes when all confirmed.
     */
    static Mono<Void> writeAll(List<Sink> sinks, List<Chunk> batch) {
        if (batch.isEmpty()) {
            return Mono.empty();
        }
        List<Chunk> chunks = List.copyOf(batch);
        if (sinks.size() == 1) {
            Sink sink = sinks.get(0);
            return Mono.defer(() -> sink.writeBatch(chunks));
        }
        List<Mono<Void>> writes = new ArrayList<>(sinks.size());
        for (Sink sink : sinks) {
            writes.add(Mono.defer(() -> sink.writeBatch(chunks)));
        }
        return Mono.when(writes);
    }
}
