package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

/** The retry policy, in virtual time: backoff, jitter bounds, deadline, permanent errors. */
class RetryingTest {

    private static ClickHouseWriteException transientFault() {
        return new ClickHouseWriteException("clickhouse", "t", null, "connection refused", null, true, 0, 0);
    }

    private static ClickHouseWriteException permanentFault() {
        return new ClickHouseWriteException("clickhouse", "t", null, "unknown table", null, false, 60, 404);
    }

    @Test
    void transientFaultsAreRetriedWithExponentialBackoffUntilTheySucceed() {
        AtomicInteger attempts = new AtomicInteger();
        Mono<String> attempt = Mono.defer(() -> attempts.incrementAndGet() <= 3
                ? Mono.error(transientFault()) : Mono.just("ok"));
        StepVerifier.withVirtualTime(() -> Retrying.withRetry(attempt, Duration.ofSeconds(1),
                        Duration.ofSeconds(30), 0.0, Duration.ofMinutes(5), "test"))
                .expectSubscription()
                .then(() -> assertThat(attempts).hasValue(1))
                .thenAwait(Duration.ofMillis(999))
                .then(() -> assertThat(attempts).hasValue(1))
                .thenAwait(Duration.ofMillis(1))
                .then(() -> assertThat(attempts).hasValue(2)) // after 1 s
                .thenAwait(Duration.ofSeconds(2))
                .then(() -> assertThat(attempts).hasValue(3)) // after 2 s more
                .thenAwait(Duration.ofSeconds(4))             // after 4 s more
                .expectNext("ok")
                .verifyComplete();
    }

    @Test
    void jitterKeepsEachDelayWithinItsBounds() {
        AtomicInteger attempts = new AtomicInteger();
        Mono<String> attempt = Mono.defer(() -> attempts.incrementAndGet() <= 1
                ? Mono.error(transientFault()) : Mono.just("ok"));
        StepVerifier.withVirtualTime(() -> Retrying.withRetry(attempt, Duration.ofSeconds(10),
                        Duration.ofSeconds(30), 0.5, Duration.ofMinutes(5), "test"))
                .expectSubscription()
                .thenAwait(Duration.ofMillis(4999)) // 10 s minus at most 50 %
                .then(() -> assertThat(attempts).hasValue(1))
                .thenAwait(Duration.ofMillis(10001)) // 10 s plus at most 50 %
                .expectNext("ok")
                .verifyComplete();
    }

    @Test
    void retriesStopAtTheDeadlineWithTheLastTransientError() {
        AtomicInteger attempts = new AtomicInteger();
        Mono<String> attempt = Mono.defer(() -> {
            attempts.incrementAndGet();
            return Mono.error(transientFault());
        });
        StepVerifier.withVirtualTime(() -> Retrying.withRetry(attempt, Duration.ofSeconds(1),
                        Duration.ofSeconds(8), 0.0, Duration.ofSeconds(60), "test"))
                .expectSubscription()
                .thenAwait(Duration.ofSeconds(59))
                .then(() -> assertThat(attempts.get()).isLessThan(12))
                .thenAwait(Duration.ofSeconds(10))
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class);
                    assertThat(((ClickHouseWriteException) e).isRetryable()).isTrue();
                })
                .verify(Duration.ofSeconds(5));
        // delays 1, 2, 4, 8, 8, 8 ... : attempts at 0, 1, 3, 7, 15, 23, 31, 39, 47, 55 and 63, past the deadline: the last
        assertThat(attempts).hasValue(11);
    }

    @Test
    void permanentErrorsFailAtOnceWithoutRetry() {
        AtomicInteger attempts = new AtomicInteger();
        Mono<String> attempt = Mono.defer(() -> {
            attempts.incrementAndGet();
            return Mono.error(permanentFault());
        });
        StepVerifier.withVirtualTime(() -> Retrying.withRetry(attempt, Duration.ofSeconds(1),
                        Duration.ofSeconds(8), 0.5, Duration.ofMinutes(5), "test"))
                .expectSubscription()
                .expectErrorSatisfies(e -> assertThat(((ClickHouseWriteException) e).errorCode()).isEqualTo(60))
                .verify(Duration.ofSeconds(5));
        assertThat(attempts).hasValue(1);
    }

    @Test
    void aZeroDeadlineRetriesNothing() {
        AtomicInteger attempts = new AtomicInteger();
        Mono<String> attempt = Mono.defer(() -> {
            attempts.incrementAndGet();
            return Mono.error(transientFault());
        });
        StepVerifier.withVirtualTime(() -> Retrying.withRetry(attempt, Duration.ofSeconds(1),
                        Duration.ofSeconds(8), 0.5, Duration.ZERO, "test"))
                .expectSubscription()
                .expectError(ClickHouseWriteException.class)
                .verify(Duration.ofSeconds(5));
        assertThat(attempts).hasValue(1);
    }
}
