package dev.changepipe.pusher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.Sink;
import dev.changepipe.core.Source;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/** The embedding example of the top-level README compiles, runs, and is the text the README shows. */
class ReadmeExampleTest {

    void example(Source mySource) {
        // README:begin
        Sink printer = new Sink() {
            @Override
            public String name() {
                return "printer";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {      // complete when durable
                return Mono.fromRunnable(() -> chunk.items().forEach(System.out::println));
            }
        };
        Pipeline pipeline = Pipeline.builder("orders")
                .source(mySource)                       // a log file, an operations storage, your own
                .sink(printer)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder()
                        .parallelism(2)                 // parse threads
                        .inFlightLimitBytes(64L << 20)  // memory bound
                        .build()))
                .build();
        pipeline.run().block();                         // pipeline.stop() drains and ends the run
        // README:end
    }

    @Test
    void theExampleRunsAPipelineToCompletion() {
        PipelineTest.TestSource source = new PipelineTest.TestSource(Flux.just(Chunk.of("orders.log",
                dev.changepipe.core.Offset.of(1),
                List.of(ChangeItem.insert("shop.order", Map.of("id", 1), Map.of("id", 1, "total", 10), 1)), true)));
        example(source);
        assertThat(source.acknowledged).hasSize(1);
        assertThat(source.acknowledged.get(0).originDone()).isTrue();
    }

    @Test
    void theReadmeShowsThisExample() throws IOException {
        String test = Files.readString(Path.of("src/test/java/dev/changepipe/pusher/ReadmeExampleTest.java"));
        String code = test.substring(test.indexOf("// README:begin") + "// README:begin".length(),
                test.indexOf("        // README:end"));
        String expected = code.lines().filter(l -> !l.isBlank()).map(l -> l.length() >= 8 ? l.substring(8) : l)
                .reduce((a, b) -> a + "\n" + b).orElseThrow();
        String readme = Files.readString(Path.of("../README.md"));
        assertThat(readme).contains(expected);
    }
}
