package dev.changepipe.source.storage;

import io.lettuce.core.cluster.api.reactive.RedisClusterReactiveCommands;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import reactor.core.publisher.Mono;
import reactor.core.publisher.MonoSink;

/**
 * Batches concurrent registrations (group commit). A registration is queued; while fewer than
 * {@code maxInFlight} script calls are under way, everything queued (up to {@code maxBatch} pks) is
 * sent as one script call per sorted set, each caller getting its own count back. An idle storage
 * thus sends a lone registration at once, and a busy one sends few, large calls, never one round
 * trip per pk.
 *
 * <p>Lock-free: callers enqueue, and whoever wins the work-in-progress counter drains.
 */
final class Registrar {

    /** One caller's registration: the members for one sorted set. */
    private record Pending(String key, List<String> members, MonoSink<Long> sink) {
    }

    private final Mono<RedisClusterReactiveCommands<String, String>> commands;
    private final RedisScript script;
    private final Function<Throwable, Throwable> errors;
    private final int maxBatch;
    private final int maxInFlight;
    private final ConcurrentLinkedQueue<Pending> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger wip = new AtomicInteger();
    private final AtomicInteger inFlight = new AtomicInteger();

    Registrar(Mono<RedisClusterReactiveCommands<String, String>> commands, RedisScript script,
            Function<Throwable, Throwable> errors, int maxBatch, int maxInFlight) {
        this.commands = commands;
        this.script = script;
        this.errors = errors;
        this.maxBatch = maxBatch;
        this.maxInFlight = maxInFlight;
    }

    Mono<Long> register(String key, List<String> members) {
        if (members.isEmpty()) {
            return Mono.just(0L);
        }
        return Mono.create(sink -> {
            queue.add(new Pending(key, members, sink));
            drain();
        });
    }

    private void drain() {
        if (wip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            while (inFlight.get() < maxInFlight && !queue.isEmpty()) {
                Map<String, List<Pending>> byKey = new LinkedHashMap<>();
                int taken = 0;
                Pending p;
                while ((taken == 0 || taken + sizeOfHead() <= maxBatch) && (p = queue.poll()) != null) {
                    byKey.computeIfAbsent(p.key(), k -> new ArrayList<>()).add(p);
                    taken += p.members().size();
                }
                for (Map.Entry<String, List<Pending>> e : byKey.entrySet()) {
                    inFlight.incrementAndGet();
                    send(e.getKey(), e.getValue());
                }
            }
            missed = wip.addAndGet(-missed);
        } while (missed != 0);
    }

    private int sizeOfHead() {
        Pending head = queue.peek();
        return head == null ? 0 : head.members().size();
    }

    private void send(String key, List<Pending> group) {
        int size = 0;
        for (Pending p : group) {
            size += 1 + p.members().size();
        }
        String[] args = new String[size];
        int i = 0;
        for (Pending p : group) {
            args[i++] = Integer.toString(p.members().size());
            for (String m : p.members()) {
                args[i++] = m;
            }
        }
        commands.flatMapMany(c -> script.<Object>run(c, new String[] {key}, args))
                .collectList()
                .subscribe(reply -> {
                    finished();
                    List<?> counts = flatten(reply);
                    for (int j = 0; j < group.size(); j++) {
                        Object count = j < counts.size() ? counts.get(j) : null;
                        if (count instanceof Long n) {
                            group.get(j).sink().success(n);
                        } else {
                            group.get(j).sink().error(new IllegalStateException(
                                    "registration script answered " + reply + " for " + group.size() + " callers"));
                        }
                    }
                }, error -> {
                    finished();
                    Throwable mapped = errors.apply(error);
                    for (Pending p : group) {
                        p.sink().error(mapped);
                    }
                });
    }

    private void finished() {
        inFlight.decrementAndGet();
        drain();
    }

    static List<?> flatten(List<Object> reply) {
        if (reply.size() == 1 && reply.get(0) instanceof List<?> inner) {
            return inner;
        }
        return reply;
    }

    /** Registrations waiting to be sent (for tests). */
    int queued() {
        return queue.size();
    }
}
