package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.PipelineException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.util.retry.Retry;

/**
 * The sink's retry policy: exponential backoff with jitter on
 * {@link PipelineException#isRetryable() retryable} errors, until a deadline measured from the first
 * attempt; then the last error is signalled as is. Permanent errors are signalled at once. Delays run
 * on Reactor's parallel scheduler (virtual time in tests).
 */
final class Retrying {

    private static final Logger log = LoggerFactory.getLogger(Retrying.class);

    private Retrying() {
    }

    /** {@code attempt}, subscribed again after each transient failure until {@code deadline}. */
    static <T> Mono<T> withRetry(Mono<T> attempt, Duration minBackoff, Duration maxBackoff, double jitter,
            Duration deadline, String what) {
        return Mono.defer(() -> {
            Scheduler clock = Schedulers.parallel();
            long start = clock.now(TimeUnit.MILLISECONDS);
            return attempt.retryWhen(Retry.backoff(Long.MAX_VALUE, minBackoff)
                    .maxBackoff(maxBackoff)
                    .jitter(jitter)
                    .scheduler(clock)
                    .filter(e -> PipelineException.isRetryable(e)
                            && clock.now(TimeUnit.MILLISECONDS) - start < deadline.toMillis())
                    .doBeforeRetry(s -> log.warn("{}: attempt {} failed, retrying: {}", what, s.totalRetries() + 1,
                            s.failure().getMessage())));
        });
    }
}
