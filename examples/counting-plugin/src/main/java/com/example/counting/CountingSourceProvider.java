package com.example.counting;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Source;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The plugin example of docs/service.md: {@code type: counting} emits {@code count} inserts of table
 * {@code plugin.item} ({@code id}, {@code label}) in chunks of {@code chunkSize}, resuming after its
 * checkpoint, and completes. Registered in {@code META-INF/services/dev.changepipe.spi.SourceProvider}.
 */
public final class CountingSourceProvider implements SourceProvider {

    @Override
    public String type() {
        return "counting";
    }

    /**
     * The keys of a {@code type: counting} section: what {@link Settings#bind} reads, checks and
     * reports on, and what the service's docs/options.md shows. An absent key binds to null; the
     * compact constructor puts the default in its place.
     */
    public record CountingOptions(
            @Key(value = "inserts to emit", min = 1, max = Integer.MAX_VALUE) Integer count,
            @Key(value = "inserts per chunk", min = 1, max = 1_000_000) Integer chunkSize,
            @Key("the label column's prefix") String label) {

        public CountingOptions {
            count = count == null ? 1000 : count;
            chunkSize = chunkSize == null ? 100 : chunkSize;
            label = label == null ? "item" : label;
        }
    }

    @Override
    public Class<CountingOptions> options() {
        return CountingOptions.class;
    }

    @Override
    public Source create(Settings settings, ServiceContext context) {
        CountingOptions o = settings.bind(CountingOptions.class);
        return new CountingSource(context.pipelineName(), o.count(), o.chunkSize(), o.label(), context.checkpoints());
    }

    static final class CountingSource implements Source {
        private final String origin;
        private final int count;
        private final int chunkSize;
        private final String label;
        private final CheckpointStore checkpoints;
        private final AtomicLong token = new AtomicLong();

        CountingSource(String pipeline, int count, int chunkSize, String label, CheckpointStore checkpoints) {
            this.origin = "counting:" + pipeline;
            this.count = count;
            this.chunkSize = chunkSize;
            this.label = label;
            this.checkpoints = checkpoints;
        }

        @Override
        public String name() {
            return "counting";
        }

        @Override
        public Flux<Chunk> read() {
            return checkpoints.claim(origin).doOnNext(token::set)
                    .then(checkpoints.load(origin).map(c -> c.offset().value()).defaultIfEmpty(0L))
                    .flatMapMany(done -> Flux.range(0, (int) ((count - done + chunkSize - 1) / chunkSize))
                            .map(i -> {
                                long from = done + (long) i * chunkSize;
                                long to = Math.min(count, from + chunkSize);
                                List<ChangeItem> items = new ArrayList<>();
                                for (long id = from + 1; id <= to; id++) {
                                    items.add(ChangeItem.insert("plugin.item", Map.of("id", id),
                                            Map.of("id", id, "label", label + "-" + id), id));
                                }
                                return Chunk.of(origin, Offset.of(to), items, to == count);
                            }));
        }

        @Override
        public Mono<Void> acknowledge(Ack ack) {
            return checkpoints.save(new Checkpoint(origin, ack.committable()), token.get());
        }
    }
}
