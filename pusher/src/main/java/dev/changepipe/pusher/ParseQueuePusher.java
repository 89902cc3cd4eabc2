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

/**
 * The replication pusher: parses chunks in parallel on a bounded pool, writes them to the sinks one
 * chunk at a time in push order, acknowledges them in push order after every sink confirmed, and
 * bounds the bytes admitted but not acknowledged.
 *
 * <p>A push completes as soon as its chunk is admitted. When admitting it would exceed the in-flight
 * limit, the push waits in a FIFO queue, holding no thread, until acks free room; a single chunk
 * larger than the limit is admitted once nothing else is in flight. Later pushes never overtake a
 * waiting one.
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

    private final String name;
    private final List<Sink> sinks;
    private final Consumer<Ack> acks;
    private final long limit;
    private final ExecutorService parsePool;
    private final PusherMeters meters;

    // Everything below is guarded by "this".
    private final ProgressState progress = new ProgressState();
    /** Admitted chunks not yet acknowledged, in push order; the head is the next to be written. */
    private final ArrayDeque<Entry> queue = new ArrayDeque<>();
    /** Pushes waiting for room, in call order. */
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private boolean writing;
    private boolean closing;
    private Throwable failure;
    private Disposable currentWrite;

    private final AtomicInteger drainWip = new AtomicInteger();
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
                        if (waiters.isEmpty() && fits(chunk.size())) {
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
                drained = queue.isEmpty();
            }
            for (Waiter w : refused) {
                w.sink.error(new PusherClosedException("pusher " + name + " was closed before " + w.chunk + " was admitted", null));
            }
            if (drained) {
                terminate(null);
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

    private boolean fits(long size) {
        long inFlight = progress.inFlightBytes();
        return inFlight == 0 || inFlight + size <= limit;
    }

    /** Registers the chunk; under the lock. Its parse is started by {@link #start} outside the lock. */
    private Entry admit(Chunk chunk) {
        progress.register(chunk);
        Entry entry = new Entry(chunk, System.nanoTime());
        queue.add(entry);
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
            parsed(entry, chunk, null);
            return;
        }
        try {
            parsePool.execute(() -> {
                long started = System.nanoTime();
                Chunk result = null;
                Throwable error = null;
                try {
                    List<ChangeItem> items = chunk.raw().parse();
                    result = chunk.withItems(items == null ? List.of() : items);
                } catch (Throwable t) {
                    error = t;
                }
                meters.parse.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                parsed(entry, result, error);
            });
        } catch (RejectedExecutionException e) {
            // The pusher ended while this chunk was being admitted; nothing will be acknowledged.
        }
    }

    private void parsed(Entry entry, Chunk result, Throwable error) {
        if (error != null) {
            fail(PipelineException.inChunk("parse", entry.chunk, error));
            return;
        }
        synchronized (this) {
            // Same origin, offset and size; dropping the raw chunk lets its bytes go before the ack.
            entry.chunk = result;
            entry.parsed = true;
        }
        drain();
    }

    /** Starts the next write when the head of the queue is parsed and no write is under way. */
    private void drain() {
        if (drainWip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            Entry next = null;
            synchronized (this) {
                Entry head = queue.peek();
                if (failure == null && !writing && head != null && head.parsed) {
                    writing = true;
                    next = head;
                }
            }
            if (next != null) {
                write(next);
            }
            missed = drainWip.addAndGet(-missed);
        } while (missed != 0);
    }

    /** Writes the head entry; called by the drain loop, which read {@code entry} under the lock. */
    private void write(Entry entry) {
        long started = System.nanoTime();
        Chunk parsed = entry.chunk;
        Disposable d = PusherMeters.writeAll(sinks, parsed).subscribe(null,
                error -> fail(PipelineException.inChunk("write", parsed, error)),
                () -> {
                    meters.write.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                    written(entry, parsed);
                });
        synchronized (this) {
            if (writing && queue.peek() == entry) {
                currentWrite = d;
            }
        }
    }

    private void written(Entry entry, Chunk parsed) {
        Ack ack = null;
        IllegalStateException refused = null;
        synchronized (this) {
            if (failure != null) {
                return;
            }
            try {
                ack = progress.ack(parsed, parsed.items().size());
                queue.poll();
                currentWrite = null;
            } catch (IllegalStateException e) {
                refused = e;
            }
        }
        if (refused != null) {
            fail(PipelineException.inChunk("ack", parsed, refused));
            return;
        }
        try {
            acks.accept(ack);
        } catch (Throwable t) {
            fail(PipelineException.inChunk("ack", parsed, t));
            return;
        }
        meters.acked(ack.items(), entry.admittedNanos);
        List<Waiter> admitted = new ArrayList<>();
        List<Entry> entries = new ArrayList<>();
        boolean drained;
        synchronized (this) {
            writing = false;
            if (failure != null) {
                return;
            }
            while (!waiters.isEmpty() && fits(waiters.peek().chunk.size())) {
                Waiter w = waiters.poll();
                try {
                    entries.add(admit(w.chunk));
                    admitted.add(w);
                } catch (IllegalArgumentException e) {
                    w.refusal = e;
                    admitted.add(w);
                }
            }
            drained = closing && queue.isEmpty();
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
        if (drained) {
            terminate(null);
        }
        drain();
    }

    private void fail(Throwable error) {
        List<Waiter> refused;
        Disposable write;
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = error;
            refused = new ArrayList<>(waiters);
            waiters.clear();
            write = currentWrite;
            currentWrite = null;
        }
        if (!(error instanceof PusherClosedException)) {
            log.error("pusher {} failed: {}", name, error.getMessage());
        }
        for (Waiter w : refused) {
            w.sink.error(new PusherClosedException("pusher " + name + " has failed: " + error.getMessage(), error));
        }
        if (write != null) {
            write.dispose();
        }
        terminate(error);
    }

    private void terminate(Throwable error) {
        parsePool.shutdownNow();
        meters.remove();
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
        final long admittedNanos;

        Entry(Chunk chunk, long admittedNanos) {
            this.chunk = chunk;
            this.admittedNanos = admittedNanos;
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
