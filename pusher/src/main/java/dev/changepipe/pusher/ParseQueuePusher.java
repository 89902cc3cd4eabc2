package dev.changepipe.pusher;

import dev.changepipe.core.Ack;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.OriginProgress;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Pusher;
import dev.changepipe.core.PusherClosedException;
import dev.changepipe.core.PusherFactory;
import dev.changepipe.core.Sink;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.MonoSink;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;

/**
 * The replication pusher: parses chunks in parallel on a bounded pool, writes them to the sinks in
 * push order, coalescing the parsed chunks that wait behind a write into one batch (group commit),
 * acknowledges them in push order after every sink confirmed, and bounds the bytes admitted but not
 * acknowledged.
 *
 * <p>A push completes as soon as its chunk is admitted. When admitting it would exceed the in-flight
 * limit, the push waits in a FIFO queue, holding no thread, until acks free room; a single chunk
 * larger than the limit is admitted once nothing else is in flight. Later pushes never overtake a
 * waiting one. A chunk is charged its raw size times what a raw byte becomes once parsed when it is
 * admitted, and its items' size once it is parsed, so the limit counts what is in memory.
 *
 * <p>Writes: the parsed chunks at the front of the queue that are not being written yet form the next
 * batch (up to {@code maxBatchChunks} chunks and {@code maxBatchBytes}), written with
 * {@link Sink#writeBatch}. Up to {@code maxWritesInFlight} batches (and no more than every sink
 * allows) are written at once; their acknowledgements are still delivered in push order.
 *
 * <p>The first parse, write or ack error ends the pusher: waiting and later pushes fail with
 * {@link PusherClosedException}, nothing more is written or acknowledged, {@link #whenTerminated()}
 * fails with the error (which names origin and offset).
 *
 * <p>The guarantees and the tests that prove them are listed in {@code pusher/README.md}.
 */
public final class ParseQueuePusher implements Pusher {

    private static final Logger log = LoggerFactory.getLogger(ParseQueuePusher.class);
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    /** What a raw byte is taken to become once parsed until a chunk was parsed (log lines: 1.5 to 3). */
    static final double PRIOR_PARSED_PER_RAW_BYTE = 4.0;
    /** An estimate is 10 % above the ratio, so a chunk a little denser than the densest seen still fits. */
    private static final double ESTIMATE_MARGIN = 1.1;

    private final String name;
    private final List<Sink> sinks;
    private final Consumer<Ack> acks;
    private final long limit;
    private final long maxBatchBytes;
    private final int maxBatchChunks;
    private final int maxWrites;
    private final long minBatchBytes;
    private final long lingerNanos;
    /** The most raw chunks admitted and not parsed yet: two per parse thread. */
    private final int maxParsing;
    private final ExecutorService parsePool;
    private final PusherMeters meters;

    // Everything below is guarded by "this".
    private final ProgressState progress = new ProgressState();
    /** Admitted chunks not yet in a batch, in push order; the head is the next to be written. */
    private final ArrayDeque<Entry> pending = new ArrayDeque<>();
    /** Batches being written or written and not yet acknowledged, in push order. */
    private final ArrayDeque<Batch> batches = new ArrayDeque<>();
    /** Pushes waiting for room, in call order. */
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    /** Batches whose write is under way. */
    private int writes;
    /** Admitted raw chunks not parsed yet. */
    private int parsing;
    /** Whether a drain is scheduled for when the head of the queue has waited {@code batchLinger}. */
    private boolean lingering;
    private boolean closing;
    private Throwable failure;
    /**
     * What a raw byte becomes once parsed, as charged to a raw chunk when it is admitted: a prior until a
     * chunk was parsed, then the highest ratio seen, decaying slowly towards the recent ones (so an
     * estimate is rarely below what a parse yields, and one odd chunk does not throttle for ever).
     */
    private double parsedPerRawByte = PRIOR_PARSED_PER_RAW_BYTE;
    private boolean firstParse = true;

    private final AtomicInteger drainWip = new AtomicInteger();
    private final AtomicInteger ackWip = new AtomicInteger();
    private final Sinks.Empty<Void> terminated = Sinks.empty();

    private ParseQueuePusher(String name, List<Sink> sinks, Consumer<Ack> acks, ParseQueueOptions options,
            MeterRegistry registry) {
        this.name = Objects.requireNonNull(name, "name");
        this.sinks = List.copyOf(sinks);
        if (this.sinks.isEmpty()) {
            throw new IllegalArgumentException("pusher " + name + ": at least one sink is required");
        }
        this.acks = Objects.requireNonNull(acks, "acks");
        this.limit = options.inFlightLimitBytes();
        this.maxBatchBytes = options.maxBatchBytes();
        this.maxBatchChunks = options.maxBatchChunks();
        this.minBatchBytes = options.minBatchBytes();
        this.lingerNanos = options.batchLinger().toNanos();
        this.maxParsing = 2 * options.parallelism();
        int writesAllowed = options.maxWritesInFlight();
        for (Sink sink : this.sinks) {
            writesAllowed = Math.min(writesAllowed, Math.max(1, sink.maxWritesInFlight()));
        }
        this.maxWrites = writesAllowed;
        int instance = INSTANCES.incrementAndGet();
        AtomicInteger threads = new AtomicInteger();
        this.parsePool = new ThreadPoolExecutor(options.parallelism(), options.parallelism(), 0, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "changepipe-parse-" + name + "-" + instance + "-" + threads.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.meters = new PusherMeters(registry, name, this);
    }

    /**
     * A pusher writing to {@code sinks} that hands each ack to {@code acks}, serially and in push
     * order; an exception from {@code acks} ends the pusher.
     */
    public static ParseQueuePusher create(String name, List<Sink> sinks, Consumer<Ack> acks, ParseQueueOptions options,
            MeterRegistry registry) {
        return new ParseQueuePusher(name, sinks, acks, options, registry);
    }

    /** Like {@link #create(String, List, Consumer, ParseQueueOptions, MeterRegistry)}, with the global registry. */
    public static ParseQueuePusher create(String name, List<Sink> sinks, Consumer<Ack> acks, ParseQueueOptions options) {
        return new ParseQueuePusher(name, sinks, acks, options, Metrics.globalRegistry);
    }

    /** A factory for {@link dev.changepipe.core.Pipeline}. */
    public static PusherFactory factory(ParseQueueOptions options) {
        Objects.requireNonNull(options, "options");
        return (name, sinks, acks, registry) -> new ParseQueuePusher(name, sinks, acks, options, registry);
    }

    @Override
    public Mono<Void> push(Chunk chunk) {
        Objects.requireNonNull(chunk, "chunk");
        return Mono.create(sink -> {
            Entry admitted = null;
            Throwable refusal = null;
            Waiter waiter = null;
            synchronized (this) {
                refusal = refusal();
                if (refusal == null) {
                    try {
                        progress.check(chunk);
                        if (waiters.isEmpty() && fits(chunk)) {
                            admitted = admit(chunk);
                        } else {
                            waiter = new Waiter(chunk, sink);
                            waiters.add(waiter);
                        }
                    } catch (IllegalArgumentException e) {
                        refusal = e;
                    }
                }
            }
            if (refusal != null) {
                sink.error(refusal);
            } else if (admitted != null) {
                start(admitted);
                sink.success();
            } else {
                Waiter w = waiter;
                sink.onCancel(() -> withdraw(w));
                drain(); // memory is full: a batch waiting to grow is written now
            }
        });
    }

    @Override
    public synchronized Map<String, OriginProgress> progress() {
        return progress.snapshot();
    }

    @Override
    public synchronized long inFlightBytes() {
        return progress.inFlightBytes();
    }

    @Override
    public synchronized int inFlightChunks() {
        return progress.inFlightChunks();
    }

    /** Bytes and chunks in flight, read together. */
    record InFlight(long bytes, int chunks) {
    }

    synchronized InFlight inFlight() {
        return new InFlight(progress.inFlightBytes(), progress.inFlightChunks());
    }

    /** Pushes waiting for room. */
    synchronized int waitingPushes() {
        return waiters.size();
    }

    /** The most batches this pusher writes at once: its option, lowered to what every sink allows. */
    int maxWritesInFlight() {
        return maxWrites;
    }

    @Override
    public Mono<Void> whenTerminated() {
        return terminated.asMono();
    }

    @Override
    public Mono<Void> close(Duration timeout) {
        return Mono.defer(() -> {
            List<Waiter> refused;
            boolean drained;
            synchronized (this) {
                if (failure != null) {
                    return Mono.error(new PusherClosedException("pusher " + name + " has failed", failure));
                }
                closing = true;
                refused = new ArrayList<>(waiters);
                waiters.clear();
                drained = isEmpty();
            }
            for (Waiter w : refused) {
                w.sink.error(new PusherClosedException("pusher " + name + " was closed before " + w.chunk + " was admitted", null));
            }
            if (drained) {
                terminate(null);
            } else {
                drain(); // a batch waiting to grow is written now
            }
            return terminated.asMono().timeout(timeout, Mono.defer(() -> {
                String state = inFlightChunks() + " chunks, " + inFlightBytes() + " bytes";
                PipelineException error = new PipelineException("pusher " + name + " did not drain within " + timeout
                        + "; aborted with " + state + " in flight");
                fail(error);
                return Mono.error(error);
            }));
        });
    }

    @Override
    public void abort() {
        fail(new PusherClosedException("pusher " + name + " was aborted", null));
    }

    private Throwable refusal() {
        if (failure != null) {
            return new PusherClosedException("pusher " + name + " has failed: " + failure.getMessage(), failure);
        }
        if (closing) {
            return new PusherClosedException("pusher " + name + " is closed", null);
        }
        return null;
    }

    private boolean isEmpty() {
        return pending.isEmpty() && batches.isEmpty();
    }

    /**
     * Whether a chunk can be admitted now: its charge fits in the in-flight limit (or nothing is in
     * flight) and, for a raw chunk, fewer than {@link #maxParsing} chunks wait for or are in a parse
     * (more would only hold raw bytes that the parse threads cannot reach yet, in room that parsed
     * chunks use to form large batches).
     */
    private boolean fits(Chunk chunk) {
        return (chunk.isParsed() || parsing < maxParsing) && fitsInMemory(chunk);
    }

    private boolean fitsInMemory(Chunk chunk) {
        long inFlight = progress.inFlightBytes();
        return inFlight == 0 || inFlight + estimate(chunk) <= limit;
    }

    /**
     * What a chunk is charged when it is admitted: a parsed chunk its size; a raw one its size times
     * what a raw byte becomes once parsed ({@link #parsedPerRawByte}), and at least its size (it holds
     * its raw bytes until it is parsed, even when what it becomes is smaller, as a prepared chunk is).
     */
    private long estimate(Chunk chunk) {
        if (chunk.isParsed()) {
            return chunk.size();
        }
        return Math.max(Math.max(1, chunk.size()), (long) Math.ceil(chunk.size() * parsedPerRawByte * ESTIMATE_MARGIN));
    }

    /** Registers the chunk; under the lock. Its parse is started by {@link #start} outside the lock. */
    private Entry admit(Chunk chunk) {
        long charge = estimate(chunk);
        progress.register(chunk);
        if (charge != chunk.size()) {
            progress.charge(chunk, charge);
        }
        Entry entry = new Entry(chunk, charge, System.nanoTime());
        if (!chunk.isParsed()) {
            parsing++;
        }
        pending.add(entry);
        meters.pushedChunks.increment();
        return entry;
    }

    private void withdraw(Waiter waiter) {
        synchronized (this) {
            waiters.remove(waiter);
        }
    }

    private void start(Entry entry) {
        Chunk chunk = entry.chunk;
        if (chunk.isParsed()) {
            parsed(entry, chunk, chunk.size(), null);
            return;
        }
        try {
            parsePool.execute(() -> {
                long started = System.nanoTime();
                Chunk result = null;
                long bytes = 0;
                Throwable error = null;
                try {
                    List<ChangeItem> items = chunk.raw().parse();
                    result = chunk.withItems(items == null ? List.of() : items);
                    if (sinks.size() == 1 && !result.items().isEmpty()) {
                        result = sinks.get(0).prepare(result);
                    }
                    if (result.prepared() != null) {
                        bytes = result.preparedBytes();
                    } else {
                        for (ChangeItem item : result.items()) {
                            bytes += item.sizeBytes();
                        }
                    }
                } catch (Throwable t) {
                    error = t;
                }
                meters.parse.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                parsed(entry, result, bytes, error);
            });
        } catch (RejectedExecutionException e) {
            // The pusher ended while this chunk was being admitted; nothing will be acknowledged.
        }
    }

    private void parsed(Entry entry, Chunk result, long bytes, Throwable error) {
        if (error != null) {
            if (error instanceof Error) {
                log.error("pusher {}: {} while parsing {}", name, error, entry.chunk);
            }
            fail(PipelineException.inChunk("parse", entry.chunk, error));
            return;
        }
        boolean wasRaw;
        synchronized (this) {
            if (failure != null) {
                return;
            }
            wasRaw = !entry.chunk.isParsed();
            if (wasRaw) {
                parsing--;
                if (entry.chunk.size() > 0) {
                    double ratio = (double) bytes / entry.chunk.size();
                    boolean first = firstParse;
                    firstParse = false;
                    parsedPerRawByte = first ? ratio : Math.max(ratio, parsedPerRawByte * 0.98 + ratio * 0.02);
                }
                // the chunk now holds its items, not its raw bytes: charge what it holds
                long charge = Math.max(1, bytes);
                progress.charge(entry.chunk, charge);
                entry.charged = charge;
            }
            // Same origin, offset and size; dropping the raw chunk lets its bytes go before the ack.
            entry.chunk = result;
            entry.parsed = true;
            entry.parsedNanos = System.nanoTime();
        }
        if (wasRaw) {
            admitWaiters(); // a parse slot is free, and the charge may have shrunk
        }
        drain();
    }

    /** Starts the next batches while the head of the queue is parsed and writes are allowed. */
    private void drain() {
        if (drainWip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            List<Batch> started = null;
            synchronized (this) {
                while (failure == null && writes < maxWrites) {
                    Batch next = nextBatch();
                    if (next == null) {
                        break;
                    }
                    writes++;
                    batches.add(next);
                    if (started == null) {
                        started = new ArrayList<>(2);
                    }
                    started.add(next);
                }
            }
            if (started != null) {
                for (Batch batch : started) {
                    write(batch);
                }
            }
            missed = drainWip.addAndGet(-missed);
        } while (missed != 0);
    }

    /**
     * The parsed chunks at the head of the pending queue, within the batch limits, once they are worth
     * a write: when they fill a batch or reach {@code minBatchBytes}, when nothing is being parsed that
     * could join them, when pushes wait for room, when one ends its origin, when the pusher closes, or
     * when the first has waited {@code batchLinger} (a drain is then scheduled for that moment). Under
     * the lock.
     */
    private Batch nextBatch() {
        Entry head = pending.peek();
        if (head == null || !head.parsed) {
            return null;
        }
        int count = 0;
        long bytes = 0;
        boolean full = false;
        boolean ends = false;
        for (Entry e : pending) {
            if (!e.parsed) {
                break;
            }
            if (count == maxBatchChunks || (count > 0 && bytes + e.charged > maxBatchBytes)) {
                full = true;
                break;
            }
            count++;
            bytes += e.charged;
            ends |= e.chunk.completed();
        }
        long waited = System.nanoTime() - head.parsedNanos;
        boolean roomNeeded = !waiters.isEmpty() && !fitsInMemory(waiters.peek().chunk);
        if (!full && bytes < minBatchBytes && parsing > 0 && !ends && !closing && !roomNeeded
                && waited < lingerNanos) {
            if (!lingering) {
                lingering = true;
                Schedulers.parallel().schedule(() -> {
                    synchronized (this) {
                        lingering = false;
                    }
                    drain();
                }, lingerNanos - waited, TimeUnit.NANOSECONDS);
            }
            return null;
        }
        List<Entry> entries = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            entries.add(pending.poll());
        }
        return new Batch(entries);
    }

    /** Writes a batch; called by the drain loop, which took the batch's entries under the lock. */
    private void write(Batch batch) {
        long started = System.nanoTime();
        List<Chunk> chunks = new ArrayList<>(batch.entries.size());
        for (Entry e : batch.entries) {
            chunks.add(e.chunk);
        }
        Disposable d = PusherMeters.writeAll(sinks, chunks).subscribe(null,
                error -> {
                    if (error instanceof Error) {
                        log.error("pusher {}: {} while writing {}", name, error, batch.describe());
                    }
                    String stage = batch.entries.size() == 1 ? "write" : "write of " + batch.describe();
                    fail(PipelineException.inChunk(stage, batch.entries.get(0).chunk, error));
                },
                () -> {
                    meters.write.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                    written(batch);
                });
        boolean ended;
        synchronized (this) {
            ended = failure != null;
            if (!batch.done && !ended) {
                batch.write = d;
            }
        }
        if (ended) {
            d.dispose(); // the pusher failed while this write was being started: abandon it
        }
    }

    private void written(Batch batch) {
        synchronized (this) {
            if (failure != null) {
                return;
            }
            batch.done = true;
            batch.write = null;
            writes--;
        }
        deliverAcks();
        drain();
    }

    /**
     * Acknowledges the chunks of every written batch at the head of the batch queue, chunk by chunk in
     * push order, serially whichever thread completed which write; then admits waiting pushes.
     */
    private void deliverAcks() {
        if (ackWip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            while (true) {
                Batch head;
                synchronized (this) {
                    head = failure == null ? batches.peek() : null;
                }
                if (head == null || !head.done) {
                    break;
                }
                for (Entry entry : head.entries) {
                    if (!acknowledge(entry)) {
                        return;
                    }
                }
                boolean drained;
                synchronized (this) {
                    batches.poll();
                    drained = closing && isEmpty();
                }
                admitWaiters();
                if (drained) {
                    terminate(null);
                }
            }
            missed = ackWip.addAndGet(-missed);
        } while (missed != 0);
    }

    /** Acknowledges one written chunk; {@code false} when that ended the pusher. */
    private boolean acknowledge(Entry entry) {
        Chunk parsed = entry.chunk;
        Ack ack = null;
        IllegalStateException refused = null;
        synchronized (this) {
            if (failure != null) {
                return false;
            }
            try {
                ack = progress.ack(parsed, parsed.itemCount());
            } catch (IllegalStateException e) {
                refused = e;
            }
        }
        if (refused != null) {
            fail(PipelineException.inChunk("ack", parsed, refused));
            return false;
        }
        try {
            acks.accept(ack);
        } catch (Throwable t) {
            fail(PipelineException.inChunk("ack", parsed, t));
            return false;
        }
        meters.acked(ack.items(), entry.admittedNanos);
        return true;
    }

    /** Admits the waiting pushes that fit now, in call order, and starts their parses. */
    private void admitWaiters() {
        List<Waiter> admitted = new ArrayList<>();
        List<Entry> entries = new ArrayList<>();
        synchronized (this) {
            if (failure != null) {
                return;
            }
            while (!waiters.isEmpty() && fits(waiters.peek().chunk)) {
                Waiter w = waiters.poll();
                try {
                    entries.add(admit(w.chunk));
                    admitted.add(w);
                } catch (IllegalArgumentException e) {
                    w.refusal = e;
                    admitted.add(w);
                }
            }
        }
        for (int i = 0, e = 0; i < admitted.size(); i++) {
            Waiter w = admitted.get(i);
            if (w.refusal != null) {
                w.sink.error(w.refusal);
            } else {
                start(entries.get(e++));
                w.sink.success();
            }
        }
    }

    private void fail(Throwable error) {
        List<Waiter> refused;
        List<Disposable> writesUnderWay = new ArrayList<>();
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = error;
            refused = new ArrayList<>(waiters);
            waiters.clear();
            for (Batch b : batches) {
                if (b.write != null) {
                    writesUnderWay.add(b.write);
                    b.write = null;
                }
            }
        }
        if (!(error instanceof PusherClosedException)) {
            log.debug("pusher {} failed: {}", name, error.getMessage());
        }
        for (Waiter w : refused) {
            w.sink.error(new PusherClosedException("pusher " + name + " has failed: " + error.getMessage(), error));
        }
        for (Disposable d : writesUnderWay) {
            d.dispose();
        }
        terminate(error);
    }

    private void terminate(Throwable error) {
        parsePool.shutdownNow();
        if (error == null) {
            terminated.tryEmitEmpty();
        } else {
            terminated.tryEmitError(error);
        }
    }

    private static final class Entry {
        /** The admitted chunk, replaced by its parsed form once parsing finished; guarded by the pusher. */
        Chunk chunk;
        boolean parsed;
        /** The bytes this chunk is charged in the in-flight count; guarded by the pusher. */
        long charged;
        final long admittedNanos;
        /** When the chunk was parsed (admitted, for a chunk pushed parsed); guarded by the pusher. */
        long parsedNanos;

        Entry(Chunk chunk, long charged, long admittedNanos) {
            this.chunk = chunk;
            this.charged = charged;
            this.admittedNanos = admittedNanos;
            this.parsedNanos = admittedNanos;
        }
    }

    /** Chunks written together; guarded by the pusher. */
    private static final class Batch {
        final List<Entry> entries;
        boolean done;
        Disposable write;

        Batch(List<Entry> entries) {
            this.entries = entries;
        }

        String describe() {
            Chunk first = entries.get(0).chunk;
            if (entries.size() == 1) {
                return "chunk " + first.origin() + "@" + first.offset();
            }
            Chunk last = entries.get(entries.size() - 1).chunk;
            return "batch of " + entries.size() + " chunks " + first.origin() + "@" + first.offset() + " .. "
                    + last.origin() + "@" + last.offset();
        }
    }

    private static final class Waiter {
        final Chunk chunk;
        final MonoSink<Void> sink;
        Throwable refusal;

        Waiter(Chunk chunk, MonoSink<Void> sink) {
            this.chunk = chunk;
            this.sink = sink;
        }
    }
}
