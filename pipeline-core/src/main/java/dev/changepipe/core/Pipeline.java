package dev.changepipe.core;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * Wires a {@link Source} through a {@link Pusher} into {@link Sink}s and carries acknowledgements back
 * to the source.
 *
 * <pre>{@code
 * Pipeline pipeline = Pipeline.builder("orders")
 *         .source(source)
 *         .sink(clickHouse)
 *         .pusher(ParseQueuePusher.factory(ParseQueueOptions.defaults()))
 *         .build();
 * pipeline.run().block();        // until a bounded source is done, or stop() is called
 * }</pre>
 *
 * <p>A run reads the source one chunk at a time, pushes each chunk, and hands every ack to
 * {@link Source#acknowledge} in push order. It completes when the source completed and the pusher
 * drained every admitted chunk and the source recorded every ack, or after {@link #stop()} once the
 * same drain is done. The first error of the source, the pusher, a sink or an acknowledgement ends the
 * run with that error; the pusher is aborted, so nothing after the failure is acknowledged, and the
 * acks it handed over before the failure are still recorded (for at most the drain timeout), so that a
 * restart does not write those chunks again.
 * Cancelling the run aborts it the same way. Sinks and the source are closed when a run ends.
 *
 * <p>One run at a time; a pipeline may be run again after a run ended (a restart after an error).
 */
public final class Pipeline {

    private static final Logger log = LoggerFactory.getLogger(Pipeline.class);

    /** Where a pipeline is in its life. */
    public enum State {
        NEW,
        RUNNING,
        STOPPING,
        COMPLETED,
        STOPPED,
        FAILED
    }

    /** How long a closing pipeline waits for the pusher to drain, unless set otherwise. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);

    /** The pusher's own limit while a completed source drains; the pipeline's progress watch cuts it instead. */
    private static final Duration UNBOUNDED_DRAIN = Duration.ofDays(3650);
    /** The most acknowledgements handed to the source in one {@link Source#acknowledgeAll} call. */
    static final int ACKS_RECORDED_TOGETHER = 1000;

    private final String name;
    private final Source source;
    private final List<Sink> sinks;
    private final PusherFactory pusherFactory;
    private final MeterRegistry registry;
    private final Duration drainTimeout;

    private final Object lock = new Object();
    private State state = State.NEW;
    private Pusher pusher;
    private Sinks.Empty<Void> stopSignal;
    private String lastError;

    private Pipeline(Builder b) {
        this.name = b.name;
        this.source = b.source;
        this.sinks = List.copyOf(b.sinks);
        this.pusherFactory = b.pusherFactory;
        this.registry = b.registry;
        this.drainTimeout = b.drainTimeout;
    }

    /** Starts building a pipeline with this name (a metric tag and log context). */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    public String name() {
        return name;
    }

    /**
     * After the first error: the pusher is aborted, so nothing after it is acknowledged, and the acks it
     * handed over before (of durable writes) are recorded, for at most the drain timeout, so that the
     * next run does not write them again; then the run fails with that error.
     */
    private Mono<Void> afterFailure(Throwable e, Pusher p, AckRuns acks, Mono<Void> committing) {
        p.abort();
        acks.complete();
        return committing.timeout(drainTimeout)
                .onErrorResume(x -> {
                    if (x != e) {
                        e.addSuppressed(x);
                    }
                    return Mono.empty();
                })
                .then(Mono.error(e));
    }

    /**
     * Runs the pipeline; see the class description for when the returned {@code Mono} completes. A
     * second subscription while a run is under way fails with {@link IllegalStateException}.
     */
    public Mono<Void> run() {
        return Mono.defer(() -> {
            AckRuns acks = new AckRuns(ACKS_RECORDED_TOGETHER, Schedulers.parallel());
            Sinks.Empty<Void> stop = Sinks.empty();
            Pusher p;
            synchronized (lock) {
                if (state == State.RUNNING || state == State.STOPPING) {
                    return Mono.error(new IllegalStateException("pipeline " + name + " is already running"));
                }
                p = pusherFactory.create(name, sinks, acks::add, registry);
                pusher = p;
                stopSignal = stop;
                state = State.RUNNING;
                lastError = null;
            }
            log.info("pipeline {}: started", name);
            Sinks.Many<Ack> recorded = Sinks.many().multicast().directBestEffort();
            Mono<Void> reading = source.read()
                    .takeUntilOther(stop.asMono())
                    .concatMap(p::push, 0)
                    .then(Mono.defer(() -> drain(p, stop, recorded.asFlux())))
                    .then(Mono.fromRunnable(acks::complete));
            // The acks that arrive together (a batch's) or while the previous ones are being recorded
            // are recorded together: one checkpoint save for a batch, not one per chunk.
            // Cached: the failure of the rest does not cancel the recording of acks already handed over.
            Mono<Void> committing = acks.runs()
                    .concatMap(run -> source.acknowledgeAll(run).doOnSuccess(v -> run.forEach(recorded::tryEmitNext)), 0)
                    .then()
                    .cache();
            Mono<Void> work = Mono.when(reading, committing, p.whenTerminated())
                    .onErrorResume(e -> afterFailure(e, p, acks, committing))
                    .doOnCancel(p::abort);
            return Mono.usingWhen(Mono.just(p), ignored -> work,
                            ignored -> closeAll(null),
                            (ignored, error) -> closeAll(error),
                            ignored -> closeAll(null))
                    .doOnSuccess(v -> finished(null))
                    .doOnError(this::finished)
                    .doOnCancel(() -> finished(new PipelineException("pipeline " + name + " was cancelled")));
        });
    }

    /**
     * Closes the pusher once reading ended. After {@link #stop()} the drain is bounded by
     * {@code drainTimeout}. After the source completed by itself (the end of a snapshot) the drain
     * waits as long as it makes progress: it is cut only when no acknowledgement was recorded for
     * {@code drainTimeout}, or {@code drainTimeout} after a {@link #stop()} that arrives meanwhile.
     */
    private Mono<Void> drain(Pusher p, Sinks.Empty<Void> stop, Flux<Ack> recorded) {
        synchronized (lock) {
            if (state != State.RUNNING) {
                return p.close(drainTimeout);
            }
        }
        Flux<Object> cut = Flux.merge(
                recorded.cast(Object.class).startWith(Boolean.TRUE).switchMap(progress -> Mono.delay(drainTimeout)),
                stop.asMono().then(Mono.delay(drainTimeout)));
        return p.close(UNBOUNDED_DRAIN).timeout(cut, Mono.defer(() -> {
            PipelineException error = new PipelineException("pipeline " + name + ": the drain after the source "
                    + "completed made no progress for " + drainTimeout + " (or a stop waited that long); aborted with "
                    + p.inFlightChunks() + " chunks, " + p.inFlightBytes() + " bytes in flight");
            return Mono.error(error); // the run's error handling aborts the pusher
        }));
    }

    /**
     * Asks a running pipeline to stop gracefully: reading stops, admitted chunks are written and
     * acknowledged, then the run completes. Does nothing when the pipeline is not running.
     */
    public void stop() {
        Sinks.Empty<Void> signal;
        synchronized (lock) {
            if (state != State.RUNNING) {
                return;
            }
            state = State.STOPPING;
            signal = stopSignal;
        }
        log.info("pipeline {}: stopping", name);
        signal.tryEmitEmpty();
    }

    /** A snapshot of the pipeline's state and progress. */
    public PipelineStatus status() {
        synchronized (lock) {
            Pusher p = pusher;
            return new PipelineStatus(name, state,
                    p == null ? Map.of() : p.progress(),
                    p == null ? 0 : p.inFlightBytes(),
                    p == null ? 0 : p.inFlightChunks(),
                    lastError);
        }
    }

    private void finished(Throwable error) {
        synchronized (lock) {
            if (error == null) {
                state = state == State.STOPPING ? State.STOPPED : State.COMPLETED;
            } else {
                state = State.FAILED;
                lastError = error.getMessage();
            }
        }
        if (error == null) {
            log.info("pipeline {}: {}", name, state.name().toLowerCase());
        } else {
            // logged at DEBUG: whoever runs the pipeline reports the failure once (the service: its supervisor)
            log.debug("pipeline {}: failed: {}", name, error.getMessage());
        }
    }

    private Mono<Void> closeAll(Throwable error) {
        List<Mono<Void>> closes = new ArrayList<>();
        for (Sink sink : sinks) {
            closes.add(sink.close().onErrorResume(e -> {
                log.warn("pipeline {}: closing sink {} failed: {}", name, sink.name(), e.toString());
                return Mono.empty();
            }));
        }
        closes.add(source.close().onErrorResume(e -> {
            log.warn("pipeline {}: closing source {} failed: {}", name, source.name(), e.toString());
            return Mono.empty();
        }));
        return Flux.concat(closes).then();
    }

    /** Builds a {@link Pipeline}; {@link #build()} checks that every required part is set. */
    public static final class Builder {

        private final String name;
        private Source source;
        private final List<Sink> sinks = new ArrayList<>();
        private PusherFactory pusherFactory;
        private MeterRegistry registry = Metrics.globalRegistry;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;

        private Builder(String name) {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("pipeline name must not be blank");
            }
            this.name = name;
        }

        /** The source to read; required. */
        public Builder source(Source source) {
            this.source = Objects.requireNonNull(source, "source");
            return this;
        }

        /** Adds a sink; at least one is required. Every chunk is written to every sink. */
        public Builder sink(Sink sink) {
            sinks.add(Objects.requireNonNull(sink, "sink"));
            return this;
        }

        /** The pusher to use, for example {@code ParseQueuePusher.factory(...)}; required. */
        public Builder pusher(PusherFactory factory) {
            this.pusherFactory = Objects.requireNonNull(factory, "pusher");
            return this;
        }

        /** Where meters are registered; default {@link Metrics#globalRegistry}. */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "meterRegistry");
            return this;
        }

        /**
         * How long a stopping run waits for in-flight chunks, and how long the drain after a source
         * completed by itself may go without an acknowledgement; default 30 s.
         */
        public Builder drainTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("drainTimeout must be positive, was " + timeout);
            }
            this.drainTimeout = timeout;
            return this;
        }

        public Pipeline build() {
            if (source == null) {
                throw new IllegalStateException("pipeline " + name + ": source is required");
            }
            if (sinks.isEmpty()) {
                throw new IllegalStateException("pipeline " + name + ": at least one sink is required");
            }
            if (pusherFactory == null) {
                throw new IllegalStateException("pipeline " + name + ": pusher is required");
            }
            return new Pipeline(this);
        }
    }
}
