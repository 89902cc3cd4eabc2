package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.SinkException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** Retry policy and chunk handling of {@link PostgresSink}, with a scripted writer and virtual time. */
class PostgresSinkTest {

    private static final PostgresSinkOptions OPTIONS = PostgresSinkOptions.builder()
            .maxRetries(3)
            .retryBackoff(Duration.ofSeconds(1), Duration.ofSeconds(4))
            .build();

    private static final Chunk CHUNK = Chunk.of("o", Offset.of(1),
            List.of(ChangeItem.update("app.model", Map.of("id", 1L), Map.of("id", 1L), 1)), false);

    @Test
    void transientFaultsAreRetriedWithBackoffUntilTheWriteSucceeds() {
        AtomicInteger attempts = new AtomicInteger();
        PostgresSink sink = new PostgresSink(OPTIONS, items -> Mono.defer(() -> attempts.incrementAndGet() <= 2
                ? Mono.error(SinkException.retryable("postgres", "app.model", "connection lost", null))
                : Mono.empty()), null);
        StepVerifier.withVirtualTime(() -> sink.write(CHUNK))
                .expectSubscription()
                .then(() -> assertThat(attempts).hasValue(1))
                .thenAwait(Duration.ofMillis(400))
                .then(() -> assertThat(attempts).as("no retry before the backoff").hasValue(1))
                .thenAwait(Duration.ofSeconds(10))
                .verifyComplete();
        assertThat(attempts).hasValue(3);
    }

    @Test
    void transientFaultsGiveUpAfterMaxRetriesWithTheLastError() {
        AtomicInteger attempts = new AtomicInteger();
        PostgresSink sink = new PostgresSink(OPTIONS, items -> Mono.defer(() -> Mono.error(
                SinkException.retryable("postgres", "app.model", "deadlock " + attempts.incrementAndGet(), null))), null);
        StepVerifier.withVirtualTime(() -> sink.write(CHUNK))
                .thenAwait(Duration.ofMinutes(1))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(SinkException.class).hasMessageContaining("deadlock 4"))
                .verify();
        assertThat(attempts).as("one attempt and maxRetries retries").hasValue(4);
    }

    @Test
    void permanentErrorsAreNotRetried() {
        AtomicInteger attempts = new AtomicInteger();
        PostgresSink sink = new PostgresSink(OPTIONS, items -> Mono.defer(() -> {
            attempts.incrementAndGet();
            return Mono.error(SinkException.permanent("postgres", "app.model", "uuid", "not a UUID", null));
        }), null);
        StepVerifier.withVirtualTime(() -> sink.write(CHUNK))
                .expectErrorSatisfies(e -> assertThat(e).hasMessageContaining("not a UUID"))
                .verify(Duration.ofSeconds(5));
        assertThat(attempts).hasValue(1);
    }

    @Test
    void emptyChunkWritesNothing() {
        PostgresSink sink = new PostgresSink(OPTIONS, items -> Mono.error(new AssertionError("written")), null);
        sink.write(Chunk.end("o", Offset.of(2))).as(StepVerifier::create).verifyComplete();
    }

    @Test
    void createNeedsAUrlAndToStringHidesThePassword() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> PostgresSink.create(PostgresSinkOptions.builder().build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("url");
        PostgresSink sink = PostgresSink.create(PostgresSinkOptions.builder()
                .url("r2dbc:postgresql://app:s3cret@localhost:5432/app").build());
        assertThat(sink.toString()).doesNotContain("s3cret").contains("app:***@localhost");
        sink.close().as(StepVerifier::create).verifyComplete();
    }
}
