package dev.changepipe.service;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.Key;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * {@code type: noop}: a sink that accepts every write at once and keeps nothing, so a pipeline runs
 * at the speed of its source, parsing and pusher alone (the ceiling the benchmarks print). Logs how many items it accepted when it is closed (if any).
 */
public final class NoopSinkProvider implements SinkProvider {

    @Override
    public String type() {
        return "noop";
    }

    /** The keys of a {@code type: noop} section. */
    record NoopConfig(@Key("the sink's name in metrics") String name) {
        NoopConfig {
            name = name == null ? "noop" : name;
        }
    }

    @Override
    public Class<NoopConfig> options() {
        return NoopConfig.class;
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        return new NoopSink(s.bind(NoopConfig.class).name(), context.pipelineName());
    }

    private static final class NoopSink implements Sink {

        private static final Logger log = LoggerFactory.getLogger(NoopSink.class);

        private final String name;
        private final String pipeline;
        private final AtomicLong items = new AtomicLong();

        NoopSink(String name, String pipeline) {
            this.name = name;
            this.pipeline = pipeline;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Mono<Void> write(Chunk chunk) {
            items.addAndGet(chunk.items().size());
            return Mono.empty();
        }

        @Override
        public Mono<Void> close() {
            return Mono.fromRunnable(() -> {
                if (items.get() > 0) { // validate builds and closes every pipeline unread
                    log.info("pipeline {}: sink {} accepted {} items", pipeline, name, items.get());
                }
            });
        }
    }
}
