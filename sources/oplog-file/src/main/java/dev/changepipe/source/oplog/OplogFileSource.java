package dev.changepipe.source.oplog;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Source;
import dev.changepipe.core.SourceStatus;
import dev.changepipe.spi.SourceVerify;
import dev.changepipe.verify.ScheduledVerify;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * Replicates an operation-log file (or a directory of them, in name order): one line per change, in a
 * pluggable {@link LineParser} format. See {@code docs/oplog-file-source.md}.
 *
 * <pre>{@code
 * Source source = OplogFileSource.create(
 *         OplogFileOptions.builder(Path.of("/var/log/app/oplog.log")).build(),
 *         FileCheckpointStore.open(Path.of("/var/lib/changepipe")), registry);
 * }</pre>
 *
 * <p><b>Chunks.</b> Each chunk holds complete lines of one file, unparsed ({@link Chunk#raw}); the
 * pusher's parse stage parses them (in parallel under the parse-queue pusher). Its origin is the file's
 * absolute path; its offset encodes the file generation and the byte just after its last line, so
 * offsets of an origin increase across truncation, re-creation and rotation. A partial last line is
 * never consumed until its newline arrives. In snapshot mode, and for every file but the newest in
 * directory mode, an empty completed chunk marks the end of a file.
 *
 * <p><b>Progress.</b> Each ack's committable offset is saved through the {@link CheckpointStore}
 * (with the file's generation, identity and whether it is done) under the claim taken when the file
 * was opened; so the checkpoint never runs ahead of what every sink acknowledged, and a restart resumes
 * there. A {@link CheckpointStore.StaleClaimException} ends the run: someone else owns the file now.
 *
 * <p><b>Versions</b> are {@code generation << 40 | line offset} (+ the change's index in its line):
 * deterministic, and strictly increasing in log order across generations and files.
 *
 * <p><b>Threading.</b> Each run reads on its own thread; waiting for appends holds no thread (watch
 * service events or the poll timer wake it). {@link #acknowledge} may be called from any thread, one
 * call at a time as {@link Source} requires. One run at a time.
 *
 * <p><b>Errors.</b> I/O failures end the run with a retryable {@link PipelineException} naming the
 * file; a malformed line is dead-lettered (or ends the run with {@link MalformedLineException} when
 * {@code failOnMalformed} is set).
 */
public final class OplogFileSource implements Source, SourceVerify {

    private static final Logger log = LoggerFactory.getLogger(OplogFileSource.class);

    private final OplogFileOptions options;
    private final CheckpointStore checkpoints;
    private final MeterRegistry registry;
    private final Scheduler timer;
    private final Counter bytesRead;
    private final DeadLetters deadLetters;
    private final LineBlock.Parsing parsing;
    private final Map<String, FileOrigin> origins = new ConcurrentHashMap<>();
    private final Map<String, Gauge> lagGauges = new ConcurrentHashMap<>();
    private final Counter deadLetterCount;
    /** Verify on request and on a schedule: set by the service's provider ({@link #verifyWith}); null otherwise. */
    private volatile ScheduledVerify verify;
    private volatile boolean scheduled;

    private OplogFileSource(OplogFileOptions options, CheckpointStore checkpoints, MeterRegistry registry,
            Scheduler timer) {
        this.options = Objects.requireNonNull(options, "options");
        this.checkpoints = Objects.requireNonNull(checkpoints, "checkpoints");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.timer = Objects.requireNonNull(timer, "timer");
        this.bytesRead = Counter.builder(OplogMetrics.BYTES_READ).tag(OplogMetrics.TAG_SOURCE, options.name())
                .baseUnit("bytes").description("bytes of complete lines read").register(registry);
        Counter lines = Counter.builder(OplogMetrics.LINES_READ).tag(OplogMetrics.TAG_SOURCE, options.name())
                .description("lines parsed, dead letters included").register(registry);
        Counter dead = Counter.builder(OplogMetrics.DEAD_LETTERS).tag(OplogMetrics.TAG_SOURCE, options.name())
                .description("malformed lines sent to the dead-letter file").register(registry);
        this.deadLetters = new DeadLetters(options.deadLetterFile(), options.deadLetters(), dead);
        this.deadLetterCount = dead;
        this.parsing = new LineBlock.Parsing(options.lineParser(), deadLetters, lines, options.maxLineBytes(),
                options.failOnMalformed());
    }

    /**
     * A source reading as {@code options} say, keeping its checkpoints in {@code checkpoints} and its
     * meters in {@code registry}.
     */
    public static OplogFileSource create(OplogFileOptions options, CheckpointStore checkpoints, MeterRegistry registry) {
        return new OplogFileSource(options, checkpoints, registry, Schedulers.parallel());
    }

    /** For tests: polls on {@code timer} (a virtual-time scheduler, say). */
    static OplogFileSource create(OplogFileOptions options, CheckpointStore checkpoints, MeterRegistry registry,
            Scheduler timer) {
        return new OplogFileSource(options, checkpoints, registry, timer);
    }

    @Override
    public String name() {
        return options.name();
    }

    /**
     * The bytes of its files past their checkpoints ({@value OplogMetrics#LAG_BYTES} says the same), and
     * the malformed lines it wrote to its dead-letter file: none when it hands them to the pipeline's
     * store, which counts them itself.
     */
    @Override
    public SourceStatus status() {
        long lag = 0;
        for (FileOrigin origin : origins.values()) {
            lag += (long) origin.lag();
        }
        long dead = options.deadLetters() == null ? (long) deadLetterCount.count() : 0;
        ScheduledVerify v = verify;
        return v == null ? new SourceStatus(lag, dead) : new SourceStatus(lag, dead, v.lines());
    }

    /**
     * Compares the log's final state up to the checkpoints with the sinks (docs/verify.md); a repair is
     * refused while the source runs ({@code ./pipeline verify --repair} makes it). Fails with an
     * {@link IllegalStateException} when the source was made without a verify (outside the service).
     */
    @Override
    public Mono<Result> verify(String table, boolean repair) {
        ScheduledVerify v = verify;
        return v == null ? Mono.error(new IllegalStateException("source " + options.name() + " was made without verify"))
                : v.verifyNow(table, repair);
    }

    /** Verifies with {@code verify}: on request, and on its schedule while the source reads when {@code scheduled}. */
    void verifyWith(ScheduledVerify verify, boolean scheduled) {
        this.verify = verify;
        this.scheduled = scheduled;
    }

    /** The file generation and the byte position after the last line written (DESIGN.md section 5). */
    @Override
    public String describe(Offset offset) {
        return Positions.describe(offset);
    }

    /** The options this source was made with. */
    public OplogFileOptions options() {
        return options;
    }

    /**
     * Reads from the checkpoints on; see the class description. Cancelling stops reading and closes the
     * files; chunks already emitted may still be acknowledged.
     */
    @Override
    public Flux<Chunk> read() {
        ScheduledVerify v = verify;
        Flux<Chunk> chunks = Flux.defer(() -> {
            removeLagGauges();
            origins.clear();
            Scheduler reader = Schedulers.newBoundedElastic(1, Integer.MAX_VALUE, "oplog-reader-" + options.name(), 60, true);
            Tailer tailer = new Tailer(this, reader, timer);
            return Flux.<Integer>generate(sink -> sink.next(0))
                    .concatMap(tick -> tailer.step(), 0)
                    .takeWhile(chunk -> chunk != Tailer.FINISHED)
                    // Close on the reader thread, after any step under way, never under its feet.
                    .doFinally(signal -> reader.schedule(() -> {
                        tailer.close();
                        reader.dispose();
                    }));
        });
        // verifies while it reads: a run's read ends with the run
        return v == null || !scheduled ? chunks : chunks.doOnSubscribe(s -> v.start()).doFinally(signal -> v.stop());
    }

    /**
     * Saves the ack's committable offset as the file's checkpoint (with generation, identity and
     * whether the file is done), under the claim taken when the file was opened. Completes when the
     * checkpoint is durable; fails with {@link CheckpointStore.StaleClaimException} when the file was
     * claimed by someone else since.
     */
    @Override
    public Mono<Void> acknowledge(Ack ack) {
        return Mono.defer(() -> {
            FileOrigin origin = origins.get(ack.origin());
            if (origin == null) {
                return Mono.error(new PipelineException("source " + options.name() + ": acknowledgement of unknown origin",
                        null, false, ack.origin(), ack.offset()));
            }
            Offset committable = ack.committable();
            if (committable == null || origin.alreadySaved(committable, ack.originDone())) {
                return Mono.empty();
            }
            Checkpoint checkpoint = origin.checkpoint(committable, ack.originDone());
            return checkpoints.save(checkpoint, origin.token)
                    .doOnSuccess(v -> {
                        origin.saved(committable, ack.originDone());
                        if (ack.originDone()) {
                            log.info("source {}: {} is done at byte {}", options.name(), origin.path,
                                    Positions.position(committable));
                            removeLagGauge(origin.origin);
                        }
                    });
        });
    }

    /**
     * One checkpoint save per file for acknowledgements that come together (a batch's): the last one
     * of each file holds its furthest committable position, and whether the file is done.
     */
    @Override
    public Mono<Void> acknowledgeAll(List<Ack> acks) {
        Map<String, Ack> lastOfEachFile = new LinkedHashMap<>();
        for (Ack ack : acks) {
            lastOfEachFile.remove(ack.origin()); // keep the files in the order of their last ack
            lastOfEachFile.put(ack.origin(), ack);
        }
        return Source.super.acknowledgeAll(List.copyOf(lastOfEachFile.values()));
    }

    /** Closes the dead-letter file and removes the per-file gauges. */
    @Override
    public Mono<Void> close() {
        return Mono.fromRunnable(() -> {
            ScheduledVerify v = verify;
            if (v != null) {
                v.stop();
            }
            deadLetters.close();
            removeLagGauges();
        });
    }

    // ---- for the tailer

    CheckpointStore checkpoints() {
        return checkpoints;
    }

    LineBlock.Parsing parsing() {
        return parsing;
    }

    void bytesRead(long bytes) {
        bytesRead.increment(bytes);
    }

    FileOrigin register(String origin, Path path, long token) {
        FileOrigin state = new FileOrigin(origin, path, token);
        origins.put(origin, state);
        removeLagGauge(origin);
        lagGauges.put(origin, Gauge.builder(OplogMetrics.LAG_BYTES, state, FileOrigin::lag)
                .tag(OplogMetrics.TAG_SOURCE, options.name())
                .tag(OplogMetrics.TAG_ORIGIN, origin)
                .baseUnit("bytes")
                .description("file size minus checkpointed position")
                .register(registry));
        return state;
    }

    void unregister(String origin) {
        origins.remove(origin);
        removeLagGauge(origin);
    }

    private void removeLagGauge(String origin) {
        Gauge gauge = lagGauges.remove(origin);
        if (gauge != null) {
            registry.remove(gauge);
        }
    }

    private void removeLagGauges() {
        for (String origin : lagGauges.keySet()) {
            removeLagGauge(origin);
        }
    }
}
