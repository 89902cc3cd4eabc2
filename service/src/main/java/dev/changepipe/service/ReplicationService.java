package dev.changepipe.service;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.PipelineStatus;
import dev.changepipe.core.SourceStatus;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The running service: one {@link PipelineSupervisor} per configured pipeline, plus what the HTTP
 * admin asks of them (status, readiness, offsets). {@link #stop()} stops every pipeline gracefully
 * within {@code shutdown.timeout} and aborts what has not drained by then.
 */
final class ReplicationService {

    private static final Logger log = LoggerFactory.getLogger(ReplicationService.class);
    static final Duration PROBE_TIMEOUT = Duration.ofSeconds(3);

    private final ServiceConfig config;
    private final Components components;
    private final MeterRegistry registry;
    private final Map<String, PipelineSupervisor> supervisors = new LinkedHashMap<>();
    private final Sinks.Empty<Void> allCompleted = Sinks.empty();

    ReplicationService(ServiceConfig config, Components components, MeterRegistry registry) {
        this(config, components, registry, Schedulers.parallel());
    }

    /** With the scheduler of restart delays and of the stall clock (virtual time in tests). */
    ReplicationService(ServiceConfig config, Components components, MeterRegistry registry, Scheduler scheduler) {
        this.config = config;
        this.components = components;
        this.registry = registry;
        for (ServiceConfig.PipelineConfig pc : config.pipelines()) {
            PipelineSupervisor supervisor = new PipelineSupervisor(pc, components, config.restart(), scheduler);
            supervisor.onCompleted(this::checkAllCompleted);
            supervisors.put(pc.name(), supervisor);
        }
    }

    /**
     * Completes once every pipeline is {@link PipelineSupervisor.State#COMPLETED}: each one's bounded
     * source (a snapshot, a sync {@code untilEmpty}) was read to its end and everything acknowledged.
     * Never completes while an unbounded pipeline runs.
     */
    Mono<Void> allCompleted() {
        return allCompleted.asMono();
    }

    private void checkAllCompleted() {
        if (supervisors.values().stream().allMatch(s -> s.state() == PipelineSupervisor.State.COMPLETED)) {
            allCompleted.tryEmitEmpty();
        }
    }

    ServiceConfig config() {
        return config;
    }

    Components components() {
        return components;
    }

    MeterRegistry registry() {
        return registry;
    }

    /** Starts every pipeline; under leases ({@code instances:}) each stands by until this instance holds its lease. */
    void start() {
        if (components.instances() != null) {
            importCheckpoints();
        }
        supervisors.values().forEach(PipelineSupervisor::start);
        if (components.instances() != null) {
            components.instances().start(supervisors());
        }
    }

    /**
     * With {@code instances:} the checkpoints live in Redis: those a pipeline kept in
     * {@code checkpoints.directory} before are copied there first (for origins Redis has none of), so
     * that it reads on where it was instead of from the start; the directory is then renamed
     * {@code <pipeline>.copied-to-redis}.
     */
    private void importCheckpoints() {
        for (PipelineSupervisor s : supervisors.values()) {
            Path directory = components.checkpointDirectory().resolve(s.name());
            if (!java.nio.file.Files.isDirectory(directory) || !(s.checkpoints() instanceof RedisCheckpointStore redis)) {
                continue;
            }
            try {
                Long copied = redis.importFrom(dev.changepipe.core.FileCheckpointStore.open(directory)).block(Duration.ofSeconds(30));
                // moved aside, so that a later start never copies a checkpoint Redis has since dropped (a reset)
                Path aside = directory.resolveSibling(directory.getFileName() + ".copied-to-redis");
                java.nio.file.Files.move(directory, aside);
                log.info("pipeline {}: copied {} checkpoint(s) of {} to Redis (instances:); the directory is now {}",
                        s.name(), copied, directory, aside);
            } catch (java.io.IOException | RuntimeException e) {
                log.warn("pipeline {}: could not copy the checkpoints of {} to Redis ({}); its origins Redis has no"
                        + " checkpoint of are read from their start", s.name(), directory, e.getMessage());
            }
        }
    }

    /**
     * Stops every pipeline (reading stops, in-flight chunks drain, checkpoints are saved). Emits
     * {@code true} when everything drained within the shutdown timeout; otherwise the rest is aborted
     * (nothing further acknowledged) and it emits {@code false}.
     */
    Mono<Boolean> stop() {
        log.info("service: stopping {} pipeline(s), timeout {} s", supervisors.size(), config.shutdownTimeout().toSeconds());
        Instances instances = components.instances();
        if (instances != null) {
            instances.stopAcquiring();
        }
        Mono<Boolean> stopped = Flux.fromIterable(supervisors.values())
                .flatMap(PipelineSupervisor::stop)
                .then(Mono.just(true))
                .timeout(config.shutdownTimeout())
                .onErrorResume(TimeoutException.class, e -> {
                    log.error("service: pipelines did not drain within {} s; aborting them", config.shutdownTimeout().toSeconds());
                    supervisors.values().forEach(PipelineSupervisor::abort);
                    return Mono.just(false);
                });
        // the leases of the stopped pipelines go to the other instances at once, not after leaseTime
        // (closed off Redis's own threads, which the client's shutdown waits for)
        return instances == null ? stopped : stopped.flatMap(drained -> instances.releaseAll(supervisors())
                .publishOn(Schedulers.boundedElastic())
                .then(Mono.fromRunnable(instances::close)).thenReturn(drained));
    }

    /** {@code /api/cluster}: the instances and who holds each pipeline's lease; empty when this instance runs alone. */
    Mono<Map<String, Object>> cluster() {
        return components.instances() == null ? Mono.empty() : components.instances().report(supervisors());
    }

    List<PipelineSupervisor> supervisors() {
        return List.copyOf(supervisors.values());
    }

    PipelineSupervisor supervisor(String name) {
        return supervisors.get(name);
    }

    /** Status of every pipeline, as {@code /api/pipelines} answers it. */
    Mono<List<PipelineReport>> status() {
        return Flux.fromIterable(supervisors.values())
                .concatMap(s -> s.offsets().map(offsets -> report(s, offsets)))
                .collectList();
    }

    private PipelineReport report(PipelineSupervisor supervisor, List<Checkpoint> offsets) {
        PipelineSupervisor.Snapshot s = supervisor.snapshot();
        PipelineStatus run = s.status();
        SourceStatus source = supervisor.sourceStatus();
        Map<String, Double> byCause = deadLettersByCause(s.name());
        // the letters the source kept itself (a log's own dead-letter file), and every letter of the store
        double deadLetters = source.deadLetters() + byCause.values().stream().mapToDouble(Double::doubleValue).sum();
        return new PipelineReport(s.name(), s.state(), run == null ? null : run.state(), s.source(), s.sinks(),
                run == null ? 0 : run.inFlightBytes(), run == null ? 0 : run.inFlightChunks(),
                itemsWritten(s.name(), s.sinks()), source.lagBytes(), source.parts(), deadLetters, byCause, s.restarts(),
                s.lastError(), s.lastErrorAt(), s.nextRunAt(),
                run == null ? List.of() : run.origins().values().stream().map(o -> OriginReport.of(o, supervisor::describe)).toList(),
                checkpoints(supervisor, offsets));
    }

    private static List<CheckpointReport> checkpoints(PipelineSupervisor supervisor, List<Checkpoint> offsets) {
        return offsets.stream().map(c -> CheckpointReport.of(c, supervisor::describe)).toList();
    }

    /** Items written by the first sink of the pipeline, over every run of this process. */
    private long itemsWritten(String pipeline, List<String> sinks) {
        if (sinks.isEmpty()) {
            return 0;
        }
        var counter = registry.find(MeteredSink.ITEMS).tag("pipeline", pipeline).tag("sink", sinks.get(0)).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    /** The pipeline's dead letters stored since the service started, per {@code sink/cause}. */
    private Map<String, Double> deadLettersByCause(String pipeline) {
        Map<String, Double> byCause = new java.util.TreeMap<>();
        for (Meter meter : registry.find(dev.changepipe.core.FileDeadLetterStore.METRIC)
                .tag(dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, pipeline).meters()) {
            String key = meter.getId().getTag(dev.changepipe.core.PipelineMetrics.TAG_SINK) + "/"
                    + meter.getId().getTag("cause");
            for (var measurement : meter.measure()) {
                byCause.merge(key, measurement.getValue(), Double::sum);
            }
        }
        return byCause;
    }

    /**
     * Why a running pipeline counts as stalled (data pending, in flight or as source lag, and nothing
     * acknowledged for {@code health.stallTimeout}), or null.
     */
    private String stalled(PipelineSupervisor s) {
        PipelineSupervisor.Snapshot snap = s.snapshot();
        int inFlight = snap.status() == null ? 0 : snap.status().inFlightChunks();
        long lag = s.sourceStatus().lagBytes();
        Duration stalled = s.stalledFor(inFlight > 0 || lag > 0);
        if (stalled.compareTo(config.stallTimeout()) < 0) {
            return null;
        }
        return "stalled: nothing acknowledged for " + stalled.toSeconds() + " s while data is pending ("
                + inFlight + " chunk(s) in flight, lag " + lag + " bytes; health.stallTimeout is " + config.stallTimeout() + ")";
    }

    /**
     * Readiness: every pipeline running (or a bounded one completed) and not stalled, and every
     * sink's probe answering. The map says what is not ready; empty when ready.
     */
    Mono<Map<String, String>> notReady() {
        Map<String, String> problems = new LinkedHashMap<>();
        Map<String, Mono<Void>> probes = new LinkedHashMap<>();
        for (PipelineSupervisor s : supervisors.values()) {
            PipelineSupervisor.State st = s.state();
            if (st != PipelineSupervisor.State.RUNNING && st != PipelineSupervisor.State.COMPLETED
                    && st != PipelineSupervisor.State.STANDBY) {
                String error = s.snapshot().lastError();
                boolean failing = st == PipelineSupervisor.State.RESTARTING || st == PipelineSupervisor.State.FAILED;
                problems.put("pipeline " + s.name(), st.name().toLowerCase() + (failing && error != null ? ": " + error : ""));
            } else {
                String stalled = stalled(s);
                if (stalled != null) {
                    problems.put("pipeline " + s.name(), stalled);
                }
            }
            probes.putAll(s.probes());
        }
        return Flux.fromIterable(probes.entrySet())
                .flatMap(e -> e.getValue().timeout(PROBE_TIMEOUT)
                        .then(Mono.<Map.Entry<String, String>>empty())
                        // the probe's own words: a target's (unreachable...), a verify's (differences...)
                        .onErrorResume(err -> Mono.just(Map.entry(e.getKey(), String.valueOf(err.getMessage())))))
                .collectList()
                .map(failed -> {
                    failed.forEach(f -> problems.put(f.getKey(), f.getValue()));
                    return problems;
                });
    }

    /** Every pipeline's checkpoints, by pipeline, as {@code /api/offsets} answers them. */
    Mono<Map<String, List<CheckpointReport>>> offsets() {
        return Flux.fromIterable(supervisors.values())
                .concatMap(s -> s.offsets().map(list -> Map.entry(s.name(), checkpoints(s, list))))
                .collectMap(Map.Entry::getKey, Map.Entry::getValue, LinkedHashMap::new);
    }

    /**
     * Forgets the checkpoint of {@code origin} in every pipeline that has one (or only in
     * {@code pipeline} when given): the pipeline is stopped gracefully, the checkpoint deleted and the
     * pipeline started again, so it reads the origin from the start. Emits the pipelines reset.
     */
    Mono<List<String>> resetOffset(String origin, String pipeline) {
        return Flux.fromIterable(supervisors.values())
                .filter(s -> pipeline == null || s.name().equals(pipeline))
                .concatMap(s -> s.offsets()
                        .filter(list -> list.stream().anyMatch(c -> c.origin().equals(origin)))
                        .flatMap(found -> {
                            log.info("pipeline {}: resetting the offset of origin {}", s.name(), origin);
                            return s.restartAround(s.checkpoints().delete(origin)).thenReturn(s.name());
                        }))
                .collectList();
    }

    /** Stops a pipeline until {@link #resume}: it drains and records its progress as on SIGTERM. */
    Mono<Void> pause(PipelineSupervisor s) {
        log.info("pipeline {}: pausing", s.name());
        return s.stop().doOnSuccess(v -> log.info("pipeline {}: paused", s.name()));
    }

    /** Runs a paused (or stopped, or failed) pipeline again, from its recorded progress; nothing if it runs. */
    Mono<Void> resume(PipelineSupervisor s) {
        if (s.state() == PipelineSupervisor.State.RUNNING || s.state() == PipelineSupervisor.State.RESTARTING) {
            return Mono.empty();
        }
        log.info("pipeline {}: resuming", s.name());
        return s.restartAround(Mono.empty());
    }

    Path checkpointDirectory() {
        return components.checkpointDirectory();
    }
}
