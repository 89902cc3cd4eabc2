package dev.changepipe.service;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.PipelineStatus;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Runs one pipeline for the service: builds a fresh {@link Pipeline} for every run, restarts it with
 * doubling backoff ({@code restart.minBackoff} to {@code restart.maxBackoff}) after a failure, without
 * touching the other pipelines, and stops it gracefully on request.
 *
 * <p>A transient failure ({@link PipelineException#isRetryable()}) is restarted for ever. A permanent
 * one (not retryable: a rejected write, a bad configuration, a bug) is restarted at most
 * {@code restart.maxPermanentFailures} times in a row without progress (a run that acknowledged
 * something starts the count over); after that the pipeline is {@link State#FAILED} and stays so,
 * with its error in the status and in readiness, until an offset reset or a restart of the service.
 * Each failure is logged once, here, at ERROR.
 *
 * <p><b>Threading.</b> Every method may be called from any thread; state changes happen under the
 * supervisor's monitor, never while calling out. Delays run on the given scheduler (virtual time in
 * tests).
 */
final class PipelineSupervisor {

    private static final Logger log = LoggerFactory.getLogger(PipelineSupervisor.class);

    /** Where the supervised pipeline is. */
    enum State {
        NEW,
        RUNNING,
        /** Failed and waiting for its backoff before the next run. */
        RESTARTING,
        STOPPING,
        /** A bounded source was read to its end and everything acknowledged. */
        COMPLETED,
        STOPPED,
        /** Failed permanently more than {@code restart.maxPermanentFailures} times in a row: not restarted. */
        FAILED,
        /**
         * Another instance holds the pipeline's lease ({@code instances:}, {@link Instances}); this one
         * runs it when it takes the lease.
         */
        STANDBY
    }

    private final ServiceConfig.PipelineConfig config;
    private final Components components;
    private final ServiceConfig.Restart restart;
    private final Scheduler scheduler;
    private final CheckpointStore checkpoints;
    /** Whether the pipeline runs only under a lease ({@code instances:}). */
    private final boolean leased;

    private final Object lock = new Object();
    private State state;
    /** The lease this instance holds, or {@code null}. */
    private Instances.Lease lease;
    /** Stopping to hand the pipeline to another instance ({@link #handOver}). */
    private boolean handingOver;
    private Components.Built current;
    private Disposable running;
    private Disposable pendingRestart;
    private int failuresInARow;
    private int permanentFailuresInARow;
    private long restarts;
    private String lastError;
    private Instant lastErrorAt;
    private Instant nextRunAt;
    private Sinks.Empty<Void> ended = Sinks.empty();
    private volatile Runnable onCompleted = () -> { };
    /** Whether an {@link Error} in a run ends the process (the service); off in unit tests. */
    static volatile boolean fatalErrorsEndTheProcess;
    // progress-based readiness: the run and acknowledged chunks last seen, and since when data is pending
    private Components.Built progressRun;
    private long progressAcked = -1;
    private long pendingSinceMillis = -1;

    PipelineSupervisor(ServiceConfig.PipelineConfig config, Components components, ServiceConfig.Restart restart,
            Scheduler scheduler) {
        this.config = config;
        this.components = components;
        this.restart = restart;
        this.scheduler = scheduler;
        this.checkpoints = components.checkpoints(config.name());
        this.leased = components.instances() != null;
        this.state = leased ? State.STANDBY : State.NEW;
    }

    String name() {
        return config.name();
    }

    CheckpointStore checkpoints() {
        return checkpoints;
    }

    /** Runs {@code action} whenever a run completes because its bounded source was read to the end. */
    void onCompleted(Runnable action) {
        this.onCompleted = action;
    }

    /** Starts the first run; under a lease, waits {@code STANDBY} until {@link #takeOver} when it holds none. */
    void start() {
        synchronized (lock) {
            if (state != State.NEW && state != State.STOPPED && state != State.FAILED && state != State.STANDBY) {
                return;
            }
            permanentFailuresInARow = 0;
            ended = Sinks.empty();
            if (leased && lease == null) {
                state = State.STANDBY;
                return;
            }
        }
        runOnce();
    }

    /** The lease this instance holds for the pipeline, or {@code null}. */
    Instances.Lease lease() {
        synchronized (lock) {
            return lease;
        }
    }

    /** This instance took the pipeline's lease: runs it, from its checkpoints. */
    void takeOver(Instances.Lease taken) {
        synchronized (lock) {
            if (state != State.STANDBY) {
                return;
            }
            lease = taken;
        }
        start();
    }

    /**
     * The lease ended (another instance holds it, or it was not renewed in time): the run under way
     * is abandoned at once, nothing further is written or acknowledged, and the pipeline stands by.
     */
    void leaseLost(Instances.Lease lost, String why) {
        Disposable d;
        Sinks.Empty<Void> signal = null;
        synchronized (lock) {
            if (lease != lost) {
                return;
            }
            lease = null;
            d = running;
            running = null;
            if (pendingRestart != null) {
                pendingRestart.dispose();
            }
            if (state == State.STOPPING) {
                state = handingOver ? State.STANDBY : State.STOPPED;
                signal = ended;
            } else if (state != State.STOPPED) {
                state = State.STANDBY;
                nextRunAt = null;
            }
            handingOver = false;
        }
        log.warn("pipeline {}: lost its lease (token {}): {}; abandoning the run, standing by", config.name(), lost.token(), why);
        if (d != null) {
            d.dispose();
        }
        if (signal != null) {
            signal.tryEmitEmpty();
        }
    }

    /**
     * Stops the run gracefully (it drains and saves its checkpoints) to hand the pipeline to another
     * instance: once the keeper released its lease, it stands by.
     */
    Mono<Void> handOver() {
        synchronized (lock) {
            handingOver = true;
        }
        return stop();
    }

    /** Whether the pipeline stops to be handed over ({@link #handOver}): its lease is then released. */
    boolean handingOver() {
        synchronized (lock) {
            return handingOver;
        }
    }

    /** The keeper released the lease of the stopped pipeline: a pipeline handed over stands by again. */
    void released(Instances.Lease released) {
        synchronized (lock) {
            if (lease == released) {
                lease = null;
                if (handingOver && state == State.STOPPED) {
                    state = State.STANDBY;
                }
                handingOver = false;
            }
        }
    }

    private void runOnce() {
        Instances.Lease held;
        synchronized (lock) {
            held = lease;
            if (leased && (held == null || !held.valid())) {
                if (state != State.STOPPING && state != State.STOPPED) {
                    state = State.STANDBY;
                    nextRunAt = null;
                }
                return;
            }
        }
        Components.Built built;
        try {
            built = components.build(config, held);
        } catch (RuntimeException e) {
            failed(e, Instant.now(), false);
            return;
        }
        Instant started = Instant.now();
        synchronized (lock) {
            if (state == State.STOPPING || state == State.STOPPED || leased && lease != held) {
                return;
            }
            current = built;
            state = State.RUNNING;
            nextRunAt = null;
        }
        Disposable d = built.pipeline().run()
                .subscribe(v -> { }, e -> failed(e, started, madeProgress(built)), () -> completed());
        synchronized (lock) {
            if (current == built) {
                running = d;
            }
        }
    }

    private void completed() {
        Sinks.Empty<Void> signal;
        synchronized (lock) {
            state = state == State.STOPPING ? State.STOPPED : State.COMPLETED;
            failuresInARow = 0;
            permanentFailuresInARow = 0;
            signal = ended;
        }
        State now = state();
        log.info("pipeline {}: run ended ({})", config.name(), now.name().toLowerCase());
        signal.tryEmitEmpty();
        if (now == State.COMPLETED) {
            onCompleted.run();
        }
    }

    /** Whether a run acknowledged anything: then its failure does not count towards the permanent ones. */
    private static boolean madeProgress(Components.Built built) {
        PipelineStatus status = built.pipeline().status();
        return status.origins().values().stream().anyMatch(o -> o.ackedChunks() > 0);
    }

    /** Retryable when the first {@link PipelineException} of the cause chain says so. */
    static boolean isRetryable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof PipelineException pe) {
                return pe.isRetryable();
            }
        }
        return false;
    }

    private void failed(Throwable e, Instant started, boolean progress) {
        Error fatal = Main.fatalCause(e);
        if (fatal != null && fatalErrorsEndTheProcess) {
            Main.fatal(fatal, "pipeline " + config.name());
        }
        Duration delay = null;
        boolean gaveUp = false;
        int permanent;
        Sinks.Empty<Void> signal = null;
        boolean retryable = isRetryable(e);
        synchronized (lock) {
            lastError = e.getMessage() == null ? e.getClass().getName() : e.getMessage();
            lastErrorAt = Instant.now();
            if (progress) {
                permanentFailuresInARow = 0;
            }
            if (!retryable) {
                permanentFailuresInARow++;
            }
            permanent = permanentFailuresInARow;
            if (state == State.STOPPING || state == State.STOPPED) {
                state = State.STOPPED;
                signal = ended;
            } else if (permanentFailuresInARow > restart.maxPermanentFailures()) {
                state = State.FAILED;
                nextRunAt = null;
                gaveUp = true;
                signal = ended;
            } else {
                // A run that lasted longer than the longest backoff starts the backoff over.
                if (Duration.between(started, Instant.now()).compareTo(restart.maxBackoff()) > 0) {
                    failuresInARow = 0;
                }
                delay = backoff(failuresInARow++);
                state = State.RESTARTING;
                nextRunAt = Instant.now().plus(delay);
                restarts++;
                pendingRestart = Mono.delay(delay, scheduler).subscribe(t -> runOnce());
            }
        }
        if (gaveUp) {
            log.error("pipeline {}: failed with a permanent error {} time(s) in a row without progress; not restarting "
                    + "(state FAILED; restart.maxPermanentFailures is {}): {}", config.name(), permanent,
                    restart.maxPermanentFailures(), lastError);
            signal.tryEmitEmpty();
        } else if (signal != null) {
            log.warn("pipeline {}: failed while stopping: {}", config.name(), lastError);
            signal.tryEmitEmpty();
        } else {
            log.error("pipeline {}: failed ({}), restarting in {} ms: {}", config.name(),
                    retryable ? "transient" : "permanent, " + permanent + " of " + restart.maxPermanentFailures()
                            + " restarts without progress", delay.toMillis(), lastError);
        }
    }

    Duration backoff(int attempt) {
        long min = restart.minBackoff().toMillis();
        long max = restart.maxBackoff().toMillis();
        long d = attempt >= 30 ? max : Math.min(max, min << attempt);
        return Duration.ofMillis(d);
    }

    /**
     * Stops reading, lets the run drain what is in flight and record its checkpoints; completes when
     * the run ended (at once when none is under way). A pending restart is cancelled.
     */
    Mono<Void> stop() {
        return Mono.defer(() -> {
            Pipeline pipeline = null;
            Sinks.Empty<Void> signal;
            synchronized (lock) {
                signal = ended;
                switch (state) {
                    case RUNNING -> {
                        state = State.STOPPING;
                        pipeline = current.pipeline();
                    }
                    case STOPPING -> {
                        return signal.asMono();
                    }
                    default -> {
                        if (pendingRestart != null) {
                            pendingRestart.dispose();
                        }
                        state = State.STOPPED;
                        nextRunAt = null;
                        signal.tryEmitEmpty();
                        return Mono.empty();
                    }
                }
            }
            pipeline.stop();
            return signal.asMono();
        });
    }

    /** Cancels the run under way (the drain timed out): nothing further is acknowledged. */
    void abort() {
        Disposable d;
        synchronized (lock) {
            d = running;
            if (pendingRestart != null) {
                pendingRestart.dispose();
            }
        }
        if (d != null) {
            d.dispose();
        }
    }

    /** Stops, runs {@code action} (an offset reset), starts again. */
    Mono<Void> restartAround(Mono<Void> action) {
        return stop().then(action).then(Mono.fromRunnable(() -> {
            synchronized (lock) {
                state = State.NEW;
                failuresInARow = 0;
                permanentFailuresInARow = 0;
            }
            start();
        }));
    }

    State state() {
        synchronized (lock) {
            return state;
        }
    }

    /**
     * How long data has been pending ({@code pending}: chunks in flight or source lag) without the
     * acknowledged position moving, as sampled by successive calls (readiness asks); zero while the
     * run acknowledges, has nothing pending, or is not running. Time is the scheduler's.
     */
    Duration stalledFor(boolean pending) {
        synchronized (lock) {
            long now = scheduler.now(java.util.concurrent.TimeUnit.MILLISECONDS);
            if (state != State.RUNNING || current == null) {
                progressRun = null;
                pendingSinceMillis = -1;
                return Duration.ZERO;
            }
            long acked = current.pipeline().status().origins().values().stream()
                    .mapToLong(dev.changepipe.core.OriginProgress::ackedChunks).sum();
            if (current != progressRun || acked != progressAcked || !pending) {
                progressRun = current;
                progressAcked = acked;
                pendingSinceMillis = pending ? now : -1;
                return Duration.ZERO;
            }
            return Duration.ofMillis(now - pendingSinceMillis);
        }
    }

    /** Every probe registered by the current run's sinks. */
    Map<String, Mono<Void>> probes() {
        synchronized (lock) {
            return current == null ? Map.of() : current.probes();
        }
    }

    /**
     * A snapshot for the status API. While a sink of the current run retries a transient fault, its
     * last failed attempt is the {@code lastError}, at once, before the write finally fails.
     */
    Snapshot snapshot() {
        synchronized (lock) {
            PipelineStatus status = current == null ? null : current.pipeline().status();
            String error = lastError;
            Instant errorAt = lastErrorAt;
            if (current != null && state == State.RUNNING) {
                for (dev.changepipe.core.Sink sink : current.sinks()) {
                    if (sink instanceof MeteredSink metered && metered.retrying() != null) {
                        Throwable t = metered.retrying();
                        error = "sink " + sink.name() + " is retrying: "
                                + (t.getMessage() == null ? t.getClass().getName() : t.getMessage());
                        errorAt = metered.retryingSince();
                        break;
                    }
                }
            }
            return new Snapshot(config.name(), state, status, restarts, error, errorAt, nextRunAt,
                    current == null ? List.of() : current.sinks().stream().map(s -> s.name()).toList(),
                    current == null ? null : current.source().name());
        }
    }

    /** What the current (or last) run's source says of itself; nothing before any run. */
    dev.changepipe.core.SourceStatus sourceStatus() {
        Components.Built run = current;
        return run == null ? dev.changepipe.core.SourceStatus.NONE : run.source().status();
    }

    /** The current run's source, while the pipeline runs; {@code null} otherwise. */
    dev.changepipe.core.Source runningSource() {
        Components.Built run = current;
        return run == null || state() != State.RUNNING ? null : run.source();
    }

    /** An offset as the current (or last) run's source describes it; the number before any run. */
    String describe(dev.changepipe.core.Offset offset) {
        Components.Built run = current;
        return run == null ? offset.toString() : run.source().describe(offset);
    }

    /** Checkpoints of this pipeline's origins. */
    Mono<List<Checkpoint>> offsets() {
        return checkpoints.loadAll().collectList();
    }

    record Snapshot(String name, State state, PipelineStatus status, long restarts, String lastError,
            Instant lastErrorAt, Instant nextRunAt, List<String> sinks, String source) {
    }
}
