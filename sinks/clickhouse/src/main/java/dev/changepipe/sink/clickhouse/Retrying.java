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
 * on Reactor's parallel scheduler (virtual time in tests). Failed attempts are logged summarised: the
 * 1st, 2nd, 4th, 8th... at WARN.
 */
final class Retrying {

    private static final Logger log = LoggerFactory.getLogger(Retrying.class);

    private Retrying() {
    }

    /** {@code attempt}, subscribed again after each transient failure until {@code deadline}. */
    static <T> Mono<T> withRetry(Mono<T> attempt, Duration minBackoff, Duration maxBackoff, double jitter,
            Duration deadline, String what) {
        return withRetry(attempt, minBackoff, maxBackoff, jitter, deadline, what, failure -> { });
    }

    /** As above; {@code onRetry} is told of every failed attempt that is retried. */
    static <T> Mono<T> withRetry(Mono<T> attempt, Duration minBackoff, Duration maxBackoff, double jitter,
            Duration deadline, String what, java.util.function.Consumer<Throwable> onRetry) {
        return Mono.defer(() -> {
            Scheduler clock = Schedulers.parallel();
            long start = clock.now(TimeUnit.MILLISECONDS);
            return attempt.retryWhen(Retry.backoff(Long.MAX_VALUE, minBackoff)
                    .maxBackoff(maxBackoff)
                    .jitter(jitter)
                    .scheduler(clock)
                    .filter(e -> PipelineException.isRetryable(e)
                            && clock.now(TimeUnit.MILLISECONDS) - start < deadline.toMillis())
                    .doBeforeRetry(s -> {
                        // summarised: the 1st, 2nd, 4th, 8th... failed attempt at WARN, the others at DEBUG
                        onRetry.accept(s.failure());
                        long failed = s.totalRetries() + 1;
                        if (Long.bitCount(failed) == 1) {
                            log.warn("{}: attempt {} failed, retrying for up to {} in all: {}", what, failed, deadline,
                                    s.failure().getMessage());
                        } else {
                            log.debug("{}: attempt {} failed, retrying: {}", what, failed, s.failure().getMessage());
                        }
                    }));
        });
    }
}
