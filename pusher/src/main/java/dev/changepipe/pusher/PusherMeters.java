package dev.changepipe.pusher;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineMetrics;
import dev.changepipe.core.Pusher;
import dev.changepipe.core.Sink;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import reactor.core.publisher.Mono;

/**
 * The meters of one pusher. They stay in the registry after the pusher ended (a pipeline that completed
 * still shows its figures) until the next pusher of the same pipeline replaces them.
 */
final class PusherMeters {

    final Counter pushedChunks;
    final Counter ackedChunks;
    final Counter ackedItems;
    final Timer parse;
    final Timer write;
    final Timer endToEnd;

    PusherMeters(MeterRegistry registry, String pipeline, Pusher pusher) {
        Tags tags = Tags.of(PipelineMetrics.TAG_PIPELINE, pipeline);
        for (String meter : List.of(PipelineMetrics.INFLIGHT_BYTES, PipelineMetrics.INFLIGHT_CHUNKS,
                PipelineMetrics.PUSHED_CHUNKS, PipelineMetrics.ACKED_CHUNKS, PipelineMetrics.ACKED_ITEMS,
                PipelineMetrics.PARSE_TIME, PipelineMetrics.WRITE_TIME, PipelineMetrics.END_TO_END_TIME)) {
            registry.find(meter).tags(tags).meters().forEach(registry::remove);
        }
        Gauge.builder(PipelineMetrics.INFLIGHT_BYTES, pusher, Pusher::inFlightBytes)
                .tags(tags).baseUnit("bytes").description("bytes admitted and not yet acknowledged").register(registry);
        Gauge.builder(PipelineMetrics.INFLIGHT_CHUNKS, pusher, Pusher::inFlightChunks)
                .tags(tags).description("chunks admitted and not yet acknowledged").register(registry);
        pushedChunks = Counter.builder(PipelineMetrics.PUSHED_CHUNKS).tags(tags).register(registry);
        ackedChunks = Counter.builder(PipelineMetrics.ACKED_CHUNKS).tags(tags).register(registry);
        ackedItems = Counter.builder(PipelineMetrics.ACKED_ITEMS).tags(tags).register(registry);
        parse = Timer.builder(PipelineMetrics.PARSE_TIME).tags(tags).register(registry);
        write = Timer.builder(PipelineMetrics.WRITE_TIME).tags(tags).register(registry);
        endToEnd = Timer.builder(PipelineMetrics.END_TO_END_TIME).tags(tags).register(registry);
    }

    void acked(int items, long admittedNanos) {
        ackedChunks.increment();
        ackedItems.increment(items);
        endToEnd.record(System.nanoTime() - admittedNanos, TimeUnit.NANOSECONDS);
    }


    /**
     * Writes the chunks of a batch that hold items to every sink at once, each sink the whole batch as
     * one {@link Sink#writeBatch}; completes when all confirmed, at once when no chunk holds an item.
     */
    static Mono<Void> writeAll(List<Sink> sinks, List<Chunk> batch) {
        List<Chunk> chunks = new ArrayList<>(batch.size());
        for (Chunk chunk : batch) {
            if (chunk.itemCount() > 0) {
                chunks.add(chunk);
            }
        }
        if (chunks.isEmpty()) {
            return Mono.empty();
        }
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
