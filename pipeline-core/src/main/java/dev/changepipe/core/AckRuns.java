package dev.changepipe.core;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.scheduler.Scheduler;

/**
 * The acknowledgements of a pipeline run, handed to the source in runs: each run is every ack queued
 * when the source is ready for the next (the acks of a batch, which the pusher delivers in one loop,
 * or all that came while the previous run was being recorded), in push order. No timer: a run is
 * formed on {@code scheduler} right after an ack arrives, so the acks delivered in the same loop join
 * it. One subscriber.
 */
final class AckRuns {

    private final int maxRun;
    private final Scheduler scheduler;
    private final Queue<Ack> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger wip = new AtomicInteger();
    private final AtomicBoolean scheduled = new AtomicBoolean();
    private volatile FluxSink<List<Ack>> sink;
    private volatile boolean done;

    AckRuns(int maxRun, Scheduler scheduler) {
        this.maxRun = maxRun;
        this.scheduler = scheduler;
    }

    /** Queues an ack; called by the pusher, serially. */
    void add(Ack ack) {
        queue.add(ack);
        if (scheduled.compareAndSet(false, true)) {
            scheduler.schedule(() -> {
                scheduled.set(false);
                drain();
            });
        }
    }

    /** No more acks will come; the runs complete once the queued ones were emitted. */
    void complete() {
        done = true;
        drain();
    }

    /** The runs, each emitted on demand. */
    Flux<List<Ack>> runs() {
        return Flux.create(s -> {
            sink = s;
            s.onRequest(n -> drain());
        });
    }

    private void drain() {
        if (wip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            FluxSink<List<Ack>> s = sink;
            if (s != null) {
                while (s.requestedFromDownstream() > 0 && !queue.isEmpty()) {
                    List<Ack> run = new ArrayList<>();
                    Ack ack;
                    while (run.size() < maxRun && (ack = queue.poll()) != null) {
                        run.add(ack);
                    }
                    s.next(run);
                }
                if (done && queue.isEmpty()) {
                    s.complete();
                }
            }
            missed = wip.addAndGet(-missed);
        } while (missed != 0);
    }
}
