package dev.changepipe.pusher;

import dev.changepipe.core.Ack;
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
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * The simple pusher, for snapshots, tests and plain embedding: a push parses the chunk on the
 * subscribing thread, writes it to every sink and delivers its ack before it completes. One push at a
 * time: a push made while another is under way fails with {@link IllegalStateException}. At most one
 * chunk is therefore in flight, and the guarantees of {@link Pusher} hold trivially.
 *
 * <p>Cancelling a push while its chunk is being written abandons the write and withdraws the chunk,
 * unacknowledged, so that its source reads it again after a restart.
 */
public final class SyncPusher implements Pusher {

    private static final Logger log = LoggerFactory.getLogger(SyncPusher.class);

    private final String name;
    private final List<Sink> sinks;
    private final Consumer<Ack> acks;
    private final PusherMeters meters;

    // Guarded by "this".
    private final ProgressState progress = new ProgressState();
    private boolean busy;
    private boolean closing;
    private Throwable failure;

    private final Sinks.Empty<Void> terminated = Sinks.empty();

    private SyncPusher(String name, List<Sink> sinks, Consumer<Ack> acks, MeterRegistry registry) {
        this.name = Objects.requireNonNull(name, "name");
        this.sinks = List.copyOf(sinks);
        if (this.sinks.isEmpty()) {
            throw new IllegalArgumentException("pusher " + name + ": at least one sink is required");
        }
        this.acks = Objects.requireNonNull(acks, "acks");
        this.meters = new PusherMeters(registry, name, this);
    }

    /** A pusher writing to {@code sinks} that hands each ack to {@code acks}. */
    public static SyncPusher create(String name, List<Sink> sinks, Consumer<Ack> acks, MeterRegistry registry) {
        return new SyncPusher(name, sinks, acks, registry);
    }

    /** Like {@link #create(String, List, Consumer, MeterRegistry)}, with the global registry. */
    public static SyncPusher create(String name, List<Sink> sinks, Consumer<Ack> acks) {
        return new SyncPusher(name, sinks, acks, Metrics.globalRegistry);
    }

    /** A factory for {@link dev.changepipe.core.Pipeline}. */
    public static PusherFactory factory() {
        return SyncPusher::new;
    }

    @Override
    public Mono<Void> push(Chunk chunk) {
        Objects.requireNonNull(chunk, "chunk");
        return Mono.defer(() -> {
            long admitted = System.nanoTime();
            synchronized (this) {
                if (failure != null) {
                    return Mono.error(new PusherClosedException("pusher " + name + " has failed: " + failure.getMessage(), failure));
                }
                if (closing) {
                    return Mono.error(new PusherClosedException("pusher " + name + " is closed", null));
                }
                if (busy) {
                    return Mono.error(new IllegalStateException("pusher " + name
                            + ": push of " + chunk + " while another push is under way; push one chunk at a time"));
                }
                try {
                    progress.register(chunk);
                } catch (IllegalArgumentException e) {
                    return Mono.error(e);
                }
                busy = true;
                meters.pushedChunks.increment();
            }
            return Mono.fromCallable(() -> parse(chunk))
                    .flatMap(parsed -> {
                        long started = System.nanoTime();
                        return PusherMeters.writeAll(sinks, List.of(parsed))
                                .onErrorMap(e -> PipelineException.inChunk("write", chunk, e))
                                .then(Mono.fromRunnable(() -> {
                                    meters.write.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
                                    acknowledge(chunk, parsed.items().size(), admitted);
                                }));
                    })
                    .then()
                    .doOnError(this::fail)
                    .doOnCancel(() -> cancelled(chunk));
        });
    }

    private Chunk parse(Chunk chunk) {
        if (chunk.isParsed()) {
            return chunk;
        }
        long started = System.nanoTime();
        try {
            var items = chunk.raw().parse();
            return chunk.withItems(items == null ? List.of() : items);
        } catch (Throwable t) {
            throw PipelineException.inChunk("parse", chunk, t);
        } finally {
            meters.parse.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
        }
    }

    private void acknowledge(Chunk chunk, int items, long admitted) {
        Ack ack;
        synchronized (this) {
            if (failure != null) {
                throw new PusherClosedException("pusher " + name + " has failed", failure);
            }
            try {
                ack = progress.ack(chunk, items);
            } catch (IllegalStateException e) {
                throw PipelineException.inChunk("ack", chunk, e);
            }
        }
        try {
            acks.accept(ack);
        } catch (Throwable t) {
            throw PipelineException.inChunk("ack", chunk, t);
        }
        meters.acked(items, admitted);
        boolean drained;
        synchronized (this) {
            busy = false;
            drained = closing;
        }
        if (drained) {
            terminate(null);
        }
    }

    private void cancelled(Chunk chunk) {
        synchronized (this) {
            if (!busy) {
                return;
            }
            busy = false;
            progress.withdraw(chunk);
        }
        log.debug("pusher {}: push of {} cancelled; it will be read again", name, chunk);
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

    @Override
    public Mono<Void> whenTerminated() {
        return terminated.asMono();
    }

    @Override
    public Mono<Void> close(Duration timeout) {
        return Mono.defer(() -> {
            boolean drained;
            synchronized (this) {
                if (failure != null) {
                    return Mono.error(new PusherClosedException("pusher " + name + " has failed", failure));
                }
                closing = true;
                drained = !busy;
            }
            if (drained) {
                terminate(null);
            }
            return terminated.asMono().timeout(timeout, Mono.defer(() -> {
                PipelineException error = new PipelineException("pusher " + name + " did not drain within " + timeout);
                fail(error);
                return Mono.error(error);
            }));
        });
    }

    @Override
    public void abort() {
        fail(new PusherClosedException("pusher " + name + " was aborted", null));
    }

    private void fail(Throwable error) {
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = error;
        }
        if (!(error instanceof PusherClosedException)) {
            log.debug("pusher {} failed: {}", name, error.getMessage());
        }
        terminate(error);
    }

    private void terminate(Throwable error) {
        if (error == null) {
            terminated.tryEmitEmpty();
        } else {
            terminated.tryEmitError(error);
        }
    }
}
