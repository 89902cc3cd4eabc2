package dev.changepipe.verify;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.verify.TableVerification.Table;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The verify a pipeline runs itself while it runs ({@code verify: {every: 1h}}), and on request
 * ({@link #verifyNow}): every table (an import key of storage-sync, a table of postgres-cdc) against
 * every sink of the pipeline that is a {@link TableDigest}, one run after another with {@code every}
 * between them, on a bounded-elastic thread. A scheduled run writes nothing: what it finds is logged
 * (the report of {@code ./pipeline verify} when a table differs, one line when it is equal) and
 * published as meters, tagged with the pipeline by the service, the table ({@code import_key} or
 * {@code table}, its {@link TableVerification.Table#kind}) and the sink:
 * {@value #ROWS} (rows compared), {@value #DIFFERENCES} (the last run's keys per {@code kind}: missing,
 * extra, different, changing), {@value #LAST_RUN} (when the last run ended, epoch seconds),
 * {@value #DURATION} and {@value #FAILURES} (runs that could not compare, a server unreachable say).
 */
public final class ScheduledVerify {

    static final String ROWS = "changepipe.verify.rows";
    static final String DIFFERENCES = "changepipe.verify.differences";
    static final String LAST_RUN = "changepipe.verify.last.run";
    static final String DURATION = "changepipe.verify.duration";
    static final String FAILURES = "changepipe.verify.failures";
    private static final Logger log = LoggerFactory.getLogger(ScheduledVerify.class);

    private final String pipeline;
    private final Callable<Truth> truth;
    private final ServiceContext context;
    private final VerifyConfig schedule;
    private final Repair repair;
    private final MeterRegistry registry;
    /**
     * What the gauges read, per registry (the service's view of one pipeline, which outlives a run): a
     * restarted pipeline's new verifier updates the values its predecessor's gauges were registered on.
     */
    private static final Map<MeterRegistry, Map<List<String>, AtomicLong>> GAUGES =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());
    private volatile Disposable running;
    /** Held by a run, so that runs never overlap. */
    private final Object runs = new Object();
    /** What the last run found per import key and sink, when keys differ (readiness says it). */
    private final Map<String, String> differing = new ConcurrentHashMap<>();
    /** The last result per import key and sink, for the status page ({@link #lines}). */
    private final Map<String, String> last = new java.util.concurrent.ConcurrentSkipListMap<>();

    /** Writes the keys a verify found to differ again, through the source's own path. */
    public interface Repair {

        /** Repairs what {@code outcome} found in {@code table}; a line for the report (what was done). */
        String repair(Table table, TableVerification.Outcome outcome);
    }

    /**
     * What a run compares: the source's tables, and the rows of each. Opened at the start of a run (an
     * operation log is read then) and closed at its end.
     */
    public interface Truth extends AutoCloseable {

        /** The tables, in the order they are compared. */
        List<Table> tables();

        /** The source's rows of one of {@link #tables}, for one comparison. */
        SourceRows rows(Table table);

        @Override
        default void close() {
        }
    }

    /**
     * PostgreSQL tables as the truth.
     *
     * @param tables the pipeline's tables
     * @param databases the PostgreSQL databases that hold them: alias to R2DBC URL
     * @param schedule {@code every} (zero: on request only), {@code settle}, {@code readiness}
     * @param repair how the source writes keys again; null when it cannot
     */
    public ScheduledVerify(List<Table> tables, Map<String, String> databases, ServiceContext context,
            VerifyConfig schedule, Repair repair) {
        this(() -> new Truth() {
            @Override
            public List<Table> tables() {
                return tables;
            }

            @Override
            public SourceRows rows(Table table) {
                return new PostgresRows(table, databases);
            }
        }, context, schedule, repair);
    }

    /**
     * Any truth, opened for each run by {@code truth}.
     *
     * @param repair how the source writes keys again; null when it cannot while it runs
     */
    public ScheduledVerify(Callable<Truth> truth, ServiceContext context, VerifyConfig schedule, Repair repair) {
        this.pipeline = context.pipelineName();
        this.truth = truth;
        this.context = context;
        this.schedule = schedule;
        this.repair = repair;
        this.registry = context.meterRegistry();
    }

    /** Starts the runs, the first {@code every} from now; a second start while running does nothing. */
    public synchronized void start() {
        if (schedule.every().isZero()) {
            return;
        }
        if (running == null || running.isDisposed()) {
            running = Mono.delay(schedule.every(), Schedulers.boundedElastic())
                    .then(Mono.fromRunnable(this::runOnce).subscribeOn(Schedulers.boundedElastic()))
                    .repeat()
                    .subscribe(v -> { }, e -> log.error("pipeline {}: scheduled verify stopped: {}", pipeline, e.toString()));
        }
    }

    public synchronized void stop() {
        if (running != null) {
            running.dispose();
        }
    }

    private void runOnce() {
        runOnce(null, false, new PrintWriter(new StringWriter()));
    }

    /**
     * One run: the tables ({@code only} names one; null: every one) against every sink that can be
     * compared, the report printed to {@code out}; whether every one was equal (and at least one was
     * compared), and the tables compared. One run at a time: a run asked for ({@code POST .../verify})
     * while a scheduled one goes on waits for it.
     */
    private Ran runOnce(String only, boolean repairing, PrintWriter out) {
        synchronized (runs) {
            try (Truth source = truth.call()) {
                List<Table> tables = source.tables();
                List<Table> which = only == null ? tables : tables.stream().filter(t -> t.named(only)).toList();
                if (only != null && which.isEmpty()) {
                    throw new IllegalArgumentException(pipeline + ": no table " + only + " (its tables: "
                            + String.join(", ", tables.stream().map(Table::name).toList()) + ")");
                }
                List<Sink> sinks = context.sinks();
                boolean equal = true;
                int compared = 0;
                for (Table table : which) {
                    for (Sink sink : sinks) {
                        if (sink instanceof TableDigest digest) {
                            equal &= verify(table, source.rows(table), sink.name(), digest, repairing, out);
                            compared++;
                        }
                    }
                }
                if (compared == 0) {
                    out.println(which.isEmpty() ? "  no table to compare yet"
                            : "  no sink of the pipeline can be compared (a clickhouse or postgres sink can)");
                }
                out.flush();
                gauge(LAST_RUN, "when the last verify ended (epoch seconds)").set(System.currentTimeMillis() / 1000);
                return new Ran(equal && compared > 0, which);
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(pipeline + ": reading the source to verify failed: " + e.getMessage(), e);
            }
        }
    }

    private record Ran(boolean equal, List<Table> tables) {
    }

    /**
     * A run now, off the caller's thread, with its result: every table, or the one {@code only} names (an
     * {@link IllegalArgumentException} listing them when none does); {@code repairing}: the keys that differ
     * are written again ({@link Repair}; an {@link IllegalStateException} when the source cannot).
     */
    public Mono<dev.changepipe.spi.SourceVerify.Result> verifyNow(String only, boolean repairing) {
        return Mono.fromCallable(() -> {
            if (repairing && repair == null) {
                throw new IllegalStateException(pipeline + ": its source cannot write keys again while it runs"
                        + " (./pipeline verify --repair does, from the command line)");
            }
            StringWriter report = new StringWriter();
            PrintWriter out = new PrintWriter(report);
            out.println("pipeline " + pipeline + ":");
            Ran ran = runOnce(only, repairing, out);
            Map<String, String> lines = new java.util.LinkedHashMap<>();
            lines().forEach((at, line) -> {
                if (ran.tables().stream().anyMatch(t -> at.startsWith("verify " + t.name() + " against "))) {
                    lines.put(at, line);
                }
            });
            return new dev.changepipe.spi.SourceVerify.Result(ran.equal(), lines, report.toString());
        }).subscribeOn(Schedulers.boundedElastic());
    }

    /** Whether the table is equal in the sink; the outcome is logged, published and kept for the status page. */
    private boolean verify(Table key, SourceRows rows, String sinkName, TableDigest digest, boolean repairing,
            PrintWriter out) {
        StringWriter report = new StringWriter();
        Timer.Sample sample = Timer.start(registry);
        String tag = key.kind().replace(' ', '_');
        try {
            TableVerification.Outcome outcome = new TableVerification(key, rows, digest, schedule.settle(), 0, 10,
                    new PrintWriter(report, true)).run();
            out.print(report);
            sample.stop(Timer.builder(DURATION).tags(tag, key.name(), "sink", sinkName).register(registry));
            Counter.builder(ROWS).tags(tag, key.name(), "sink", sinkName).register(registry).increment(outcome.rows());
            set(key, sinkName, "missing", outcome.missing().size());
            set(key, sinkName, "extra", outcome.extra().size());
            set(key, sinkName, "different", outcome.different().size());
            set(key, sinkName, "changing", outcome.changing().size());
            if (repairing && outcome.differs()) {
                // the comparison stands whether or not the repair can be made now
                try {
                    out.println("  repair: " + repair.repair(key, outcome));
                } catch (RuntimeException e) {
                    out.println("  repair failed: " + e.getMessage());
                    log.warn("pipeline {}: repair of {} {} failed: {}", pipeline, key.kind(), key.name(), e.toString());
                }
            }
            String at = at(key, sinkName);
            int differ = outcome.missing().size() + outcome.extra().size() + outcome.different().size();
            last.put(at, (outcome.equal() ? "equal, " + String.format("%,d", outcome.rows()) + " rows"
                    : differ + " key(s) differ: " + outcome.missing().size() + " missing, " + outcome.extra().size()
                    + " extra, " + outcome.different().size() + " different"
                    + (outcome.changing().isEmpty() ? "" : ", " + outcome.changing().size() + " changing")) + now());
            if (outcome.differs()) {
                differing.put(at, differ + " key(s) of " + key.kind() + " " + at + " differ");
            } else {
                differing.remove(at);
            }
            if (outcome.equal()) {
                log.info("pipeline {}: verify of {} {} against sink {}: equal ({} rows)", pipeline, key.kind(),
                        key.name(), sinkName, outcome.rows());
            } else {
                log.warn("pipeline {}: verify of {} {} against sink {} found differences "
                        + "(./pipeline verify --repair writes them again):\n{}", pipeline, key.kind(), key.name(),
                        sinkName, report.toString().stripTrailing());
            }
            return outcome.equal();
        } catch (RuntimeException e) {
            Counter.builder(FAILURES).tags(tag, key.name(), "sink", sinkName).register(registry).increment();
            last.put(at(key, sinkName), "failed: " + e.getMessage() + now());
            out.println("    failed: " + e.getMessage());
            log.warn("pipeline {}: verify of {} {} against sink {} failed: {}", pipeline, key.kind(), key.name(),
                    sinkName, e.toString());
            return false;
        }
    }

    private static String at(Table key, String sinkName) {
        return key.name() + " against sink " + sinkName;
    }

    /** When a result was found, as its line ends: {@code  (12:00:03)}. */
    private static String now() {
        return " (" + java.time.LocalTime.now().withNano(0) + ")";
    }

    /**
     * The last result of each table against each sink, one line each, keyed {@code verify <import key or
     * table> against sink <sink>}: {@code equal, 10,000 rows (12:00:03)}, {@code 2 key(s) differ: ...}, or
     * {@code failed: ...}; empty before the first run ends.
     */
    public Map<String, String> lines() {
        Map<String, String> lines = new java.util.LinkedHashMap<>();
        last.forEach((at, line) -> lines.put("verify " + at, line));
        return lines;
    }

    /**
     * A readiness probe: fails while the last run of a table against a sink found keys that differ (until a
     * run finds that table equal again).
     */
    public Mono<Void> probe() {
        return Mono.defer(() -> differing.isEmpty() ? Mono.empty()
                : Mono.error(new IllegalStateException("the last verify found differences: "
                        + String.join("; ", differing.values()) + " (./pipeline verify --repair writes them again)")));
    }

    private void set(Table key, String sinkName, String kind, long value) {
        gauge(DIFFERENCES, "keys the last verify found, per kind (missing, extra, different, changing)",
                key.kind().replace(' ', '_'), key.name(), "sink", sinkName, "kind", kind).set(value);
    }

    /** The value a gauge of this registry reads, registered on first use. */
    private AtomicLong gauge(String name, String description, String... tags) {
        List<String> id = new java.util.ArrayList<>(List.of(tags));
        id.add(0, name);
        return GAUGES.computeIfAbsent(registry, r -> new ConcurrentHashMap<>()).computeIfAbsent(id, k -> {
            AtomicLong holder = new AtomicLong();
            Gauge.builder(name, holder, AtomicLong::get).description(description).tags(tags).strongReference(true)
                    .register(registry);
            return holder;
        });
    }
}
