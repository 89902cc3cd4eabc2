package dev.changepipe.service;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Several instances of the service on one set of sources (docs/deployment.md). Each pipeline runs on
 * the one instance that holds its lease: the Redis key {@code changepipe:lease:<pipeline>}, set with
 * a time to live of {@code leaseTime} and renewed every third of it, whose value names the instance and
 * the lease's fencing token (a number that grows with every lease of the pipeline). The other
 * instances keep the pipeline {@code STANDBY} and try to take the lease every third of
 * {@code leaseTime}: when the holder dies the key expires, and the next instance to try runs the
 * pipeline from its checkpoints, which every instance finds in Redis ({@link RedisCheckpointStore}).
 *
 * <p><b>Fencing.</b> Every write is fenced twice before it starts: the lease must be valid by the
 * instance's own clock (until nine tenths of {@code leaseTime} after it sent the last renewal that
 * succeeded, so before the key can have expired in Redis), and a script in Redis checks that the key
 * still holds this lease. An instance paused past its lease (a stopped process, a long GC, a lost
 * network) thus writes nothing more once it runs again, and stands by. A write already sent when the
 * lease moves can still land (harmless under versions), but its acknowledgement cannot move a
 * checkpoint: the new holder claimed every origin it reads, and a checkpoint saved under an older
 * claim is refused ({@link dev.changepipe.core.CheckpointStore}).
 *
 * <p><b>Write log.</b> The same script appends the write to the Redis stream
 * {@code changepipe:writes} (capped at about {@code writeLog} entries): instance, pipeline, lease
 * token, sink, and each origin's first and last offset in the write. Redis orders the entries, so the
 * log shows who wrote which origins under which lease, and that no write under a lease followed one
 * under a newer lease.
 *
 * <p><b>Threading.</b> The keeper's rounds run one at a time on a timer; leases are read from any
 * thread.
 */
final class Instances implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Instances.class);
    static final String PREFIX = "changepipe:";
    static final String WRITES = PREFIX + "writes";
    static final String INSTANCES = PREFIX + "instances";
    static final String LEASE_TOKENS = PREFIX + "lease-tokens";
    static final String LEASE_METER = "changepipe.instance.lease";
    static final String TAKEOVERS = "changepipe.instance.takeovers";
    static final String LOST = "changepipe.instance.leases.lost";
    /** An instance not seen for this many lease times is dropped from {@code changepipe:instances}. */
    private static final int FORGET_AFTER_LEASES = 360;

    // KEYS[1] lease, KEYS[2] tokens; ARGV[1] instance, ARGV[2] ttl ms, ARGV[3] pipeline -> the new token,
    // or 0 when another instance holds the lease. A lease this instance's name still holds (a restart
    // under a fixed id) is taken over at once, with a new token.
    private static final String ACQUIRE = """
            local held = redis.call('GET', KEYS[1])
            if held and string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. '#' then return 0 end
            local token = redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
            redis.call('SET', KEYS[1], ARGV[1] .. '#' .. token, 'PX', ARGV[2])
            return token
            """;
    // KEYS[1] lease; ARGV[1] value, ARGV[2] ttl ms -> 1, or 0 when the lease is not this one any more
    private static final String RENEW = """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return 1
            """;
    // KEYS[1] lease, KEYS[2] the write log; ARGV[1] value, ARGV[2] entries kept (0: no log), ARGV[3..] the
    // entry's fields -> 1 when the lease is this one (and the entry appended), else 0
    private static final String WRITE = """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            if ARGV[2] ~= '0' then
              redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
            end
            return 1
            """;
    // KEYS[1] lease; ARGV[1] value -> 1 when released
    private static final String RELEASE = """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            return redis.call('DEL', KEYS[1])
            """;

    private final ServiceConfig.Instances config;
    private final String uri;
    private final Instant started = Instant.now();
    private volatile StatefulRedisConnection<String, String> connection;
    private RedisClient client;
    private Disposable keeper;
    private final io.micrometer.core.instrument.MeterRegistry registry;
    private volatile boolean acquiring = true;
    /** Instances seen alive (within {@code leaseTime}) by the last heartbeat, this one included; and the round before. */
    private volatile int alive = 1;
    private volatile int aliveBefore = 1;
    /** Pipelines this instance saw without a holder in its last round while it had its share already. */
    private final java.util.Set<String> unownedBefore = java.util.concurrent.ConcurrentHashMap.newKeySet();

    Instances(ServiceConfig.Instances config, String uri, io.micrometer.core.instrument.MeterRegistry registry) {
        this.config = config;
        this.uri = uri;
        this.registry = registry;
    }

    /** {@code <host name>-<process id>}. */
    static String defaultId() {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "localhost";
            }
        }
        String id = host.replaceAll("[^A-Za-z0-9_.:-]", "_") + "-" + ProcessHandle.current().pid();
        return id.length() > 64 ? id.substring(id.length() - 64) : id;
    }

    String id() {
        return config.id();
    }

    Duration leaseTime() {
        return config.leaseTime();
    }

    /** The connection, opened on first use (so that {@code validate} connects to nothing). */
    RedisReactiveCommands<String, String> redis() {
        StatefulRedisConnection<String, String> c = connection;
        if (c == null) {
            synchronized (this) {
                if (connection == null) {
                    client = RedisClient.create(RedisURI.create(uri));
                    client.setOptions(io.lettuce.core.ClientOptions.builder()
                            .timeoutOptions(io.lettuce.core.TimeoutOptions.enabled(Duration.ofSeconds(5))).build());
                    try {
                        connection = client.connect();
                    } catch (RuntimeException e) {
                        client.shutdown();
                        client = null;
                        throw new PipelineException("instances: cannot connect to Redis (instances.redis): " + e.getMessage(),
                                e, true);
                    }
                }
                c = connection;
            }
        }
        return c.reactive();
    }

    static String leaseKey(String pipeline) {
        return PREFIX + "lease:" + pipeline;
    }

    /**
     * Starts the keeper: every third of {@code leaseTime} it renews the leases this instance holds,
     * tries to take those of its {@code STANDBY} pipelines, and says in {@code changepipe:instances}
     * that it is alive.
     */
    void start(List<PipelineSupervisor> supervisors) {
        for (PipelineSupervisor s : supervisors) {
            io.micrometer.core.instrument.Gauge.builder(LEASE_METER, s, x -> x.lease() == null ? 0 : 1)
                    .description("1 while this instance holds the pipeline's lease (instances:), else 0")
                    .tag(dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name()).register(registry);
            registry.counter(TAKEOVERS, dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name());
            registry.counter(LOST, dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name());
        }
        long period = Math.max(100, config.leaseTime().toMillis() / 3);
        log.info("instances: this is instance {}; leases of {} ms in Redis", config.id(), config.leaseTime().toMillis());
        keeper = Flux.interval(Duration.ZERO, Duration.ofMillis(period), Schedulers.parallel())
                .onBackpressureDrop()
                .concatMap(t -> round(supervisors)
                        .onErrorResume(e -> {
                            log.warn("instances: Redis did not answer ({}); the pipelines this instance runs stop when"
                                    + " their leases end", e.getMessage());
                            return Mono.empty();
                        })
                        .then(Mono.fromRunnable(() -> expire(supervisors))), 1)
                .subscribe();
    }

    /**
     * One round of the keeper. A pipeline paused here ({@code STOPPED}) keeps its lease, so that it
     * stays paused on every instance until it is resumed here. Work is shared: an instance takes
     * pipelines up to its share (the pipelines over the instances alive, rounded up), and beyond it
     * only a pipeline that stayed without
     * a holder for a whole round; one that holds more than its share while the instances alive stay the
     * same hands one over (a graceful stop, then the lease released), so that an instance that joins gets
     * work.
     */
    private Mono<Void> round(List<PipelineSupervisor> supervisors) {
        return Mono.defer(() -> {
            List<Mono<Void>> work = new ArrayList<>();
            work.add(heartbeat(supervisors));
            for (PipelineSupervisor s : supervisors) {
                Lease lease = s.lease();
                if (lease != null && s.state() == PipelineSupervisor.State.STOPPED && s.handingOver()) {
                    work.add(release(s, lease));
                } else if (lease != null) {
                    work.add(renew(s, lease));
                } else if (acquiring && s.state() == PipelineSupervisor.State.STANDBY) {
                    work.add(Mono.defer(() -> held(supervisors) < share(supervisors) ? acquire(s) : acquireIfLeft(s)));
                }
            }
            work.add(Mono.fromRunnable(() -> balance(supervisors)));
            return Flux.concat(work).then();
        });
    }

    /** The pipelines this instance may run: all of them over the instances alive, rounded up. */
    private int share(List<PipelineSupervisor> supervisors) {
        int instances = Math.max(1, alive);
        return (supervisors.size() + instances - 1) / instances;
    }

    private static long held(List<PipelineSupervisor> supervisors) {
        return supervisors.stream().filter(s -> s.lease() != null && s.state() != PipelineSupervisor.State.STOPPING
                && s.state() != PipelineSupervisor.State.STOPPED).count();
    }

    /** Beyond its share, an instance takes a pipeline only when it has had no holder for a whole round. */
    private Mono<Void> acquireIfLeft(PipelineSupervisor s) {
        return redis().exists(leaseKey(s.name())).flatMap(held -> {
            if (held > 0) {
                unownedBefore.remove(s.name());
                return Mono.empty();
            }
            if (unownedBefore.remove(s.name())) {
                return acquire(s);
            }
            unownedBefore.add(s.name());
            return Mono.empty();
        });
    }

    /** Hands one pipeline over when this instance runs more than its share and the instances alive are stable. */
    private void balance(List<PipelineSupervisor> supervisors) {
        if (!acquiring || alive != aliveBefore || held(supervisors) <= share(supervisors)) {
            return;
        }
        for (int i = supervisors.size() - 1; i >= 0; i--) {
            PipelineSupervisor s = supervisors.get(i);
            if (s.lease() != null && s.state() == PipelineSupervisor.State.RUNNING) {
                log.info("instances: pipeline {}: handing it over to balance the work ({} of {} pipelines run here,"
                        + " {} instances alive)", s.name(), held(supervisors), supervisors.size(), alive);
                s.handOver().subscribe();
                return;
            }
        }
    }

    /** A lease whose validity ran out while Redis did not answer ends its pipeline's run here. */
    private void expire(List<PipelineSupervisor> supervisors) {
        for (PipelineSupervisor s : supervisors) {
            Lease lease = s.lease();
            if (lease != null && !lease.valid()) {
                registry.counter(LOST, dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name()).increment();
                s.leaseLost(lease, "not renewed within " + config.leaseTime().toMillis() + " ms");
            }
        }
    }

    private Mono<Void> heartbeat(List<PipelineSupervisor> supervisors) {
        long now = System.currentTimeMillis();
        List<String> running = supervisors.stream().filter(s -> s.lease() != null).map(PipelineSupervisor::name).toList();
        String entry = AdminServer.JSON.createObjectNode()
                .put("seen", now).put("started", started.toString()).put("leaseTime", config.leaseTime().toMillis())
                .set("pipelines", AdminServer.JSON.valueToTree(running)).toString();
        return redis().hset(INSTANCES, config.id(), entry)
                .then(redis().hgetall(INSTANCES).collectList())
                .flatMap(all -> {
                    aliveBefore = alive;
                    alive = (int) Math.max(1, all.stream()
                            .filter(kv -> seen(kv.getValue()) >= now - config.leaseTime().toMillis()).count());
                    List<String> gone = all.stream().filter(kv -> seen(kv.getValue())
                            < now - FORGET_AFTER_LEASES * config.leaseTime().toMillis()).map(kv -> kv.getKey()).toList();
                    return gone.isEmpty() ? Mono.empty() : redis().hdel(INSTANCES, gone.toArray(String[]::new)).then();
                });
    }

    private static long seen(String entry) {
        try {
            return AdminServer.JSON.readTree(entry).path("seen").asLong(0);
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    private Mono<Void> acquire(PipelineSupervisor s) {
        return Mono.defer(() -> acquireNow(s));
    }

    private Mono<Void> acquireNow(PipelineSupervisor s) {
        long sent = System.nanoTime();
        return redis().<Long>eval(ACQUIRE, ScriptOutputType.INTEGER, new String[] {leaseKey(s.name()), LEASE_TOKENS},
                        config.id(), Long.toString(config.leaseTime().toMillis()), s.name())
                .next()
                .doOnNext(token -> {
                    if (token > 0) {
                        Lease lease = new Lease(s.name(), token, sent, config.leaseTime());
                        log.info("instances: pipeline {}: this instance ({}) took the lease (token {})", s.name(),
                                config.id(), token);
                        registry.counter(TAKEOVERS, dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name()).increment();
                        s.takeOver(lease);
                    }
                })
                .then();
    }

    private Mono<Void> renew(PipelineSupervisor s, Lease lease) {
        long sent = System.nanoTime();
        return redis().<Long>eval(RENEW, ScriptOutputType.INTEGER, new String[] {leaseKey(s.name())},
                        lease.value(config.id()), Long.toString(config.leaseTime().toMillis()))
                .next()
                .doOnNext(held -> {
                    if (held == 1) {
                        lease.renewed(sent);
                    } else {
                        registry.counter(LOST, dev.changepipe.core.PipelineMetrics.TAG_PIPELINE, s.name()).increment();
                        s.leaseLost(lease, "another instance holds it now");
                    }
                })
                .then();
    }

    private Mono<Void> release(PipelineSupervisor s, Lease lease) {
        return redis().<Long>eval(RELEASE, ScriptOutputType.INTEGER, new String[] {leaseKey(s.name())},
                        lease.value(config.id()))
                .then(Mono.fromRunnable(() -> {
                    s.released(lease);
                    log.info("instances: pipeline {}: lease released (token {})", s.name(), lease.token());
                }));
    }

    /**
     * Stops taking leases; then, once the pipelines stopped, {@link #releaseAll} hands theirs to the
     * other instances at once instead of after {@code leaseTime}.
     */
    void stopAcquiring() {
        acquiring = false;
    }

    /** Releases every lease still held (the pipelines stopped) and stops the keeper. */
    Mono<Void> releaseAll(List<PipelineSupervisor> supervisors) {
        return Flux.fromIterable(supervisors)
                .concatMap(s -> s.lease() == null ? Mono.empty() : release(s, s.lease()))
                .then()
                .timeout(Duration.ofSeconds(5))
                .onErrorResume(e -> {
                    log.warn("instances: could not release the leases ({}); they end after {} ms", e.getMessage(),
                            config.leaseTime().toMillis());
                    return Mono.empty();
                })
                .doFinally(f -> {
                    if (keeper != null) {
                        keeper.dispose();
                    }
                });
    }

    /** {@code /api/cluster}: this instance, the instances alive, and who holds each pipeline's lease. */
    Mono<Map<String, Object>> report(List<PipelineSupervisor> supervisors) {
        return redis().hgetall(INSTANCES).collectList().flatMap(entries -> {
            long now = System.currentTimeMillis();
            List<Map<String, Object>> instances = new ArrayList<>();
            for (var kv : entries) {
                try {
                    var node = AdminServer.JSON.readTree(kv.getValue());
                    long seen = node.path("seen").asLong();
                    long lease = node.path("leaseTime").asLong(config.leaseTime().toMillis());
                    Map<String, Object> i = new LinkedHashMap<>();
                    i.put("id", kv.getKey());
                    i.put("alive", seen >= now - lease);
                    i.put("lastSeen", Instant.ofEpochMilli(seen).toString());
                    i.put("started", node.path("started").asText());
                    i.put("pipelines", AdminServer.JSON.convertValue(node.path("pipelines"), List.class));
                    instances.add(i);
                } catch (java.io.IOException e) {
                    // an entry another version wrote: skipped
                }
            }
            instances.sort(java.util.Comparator.comparing(i -> (String) i.get("id")));
            return Flux.fromIterable(supervisors)
                    .concatMap(s -> redis().get(leaseKey(s.name())).defaultIfEmpty("")
                            .zipWith(redis().pttl(leaseKey(s.name())))
                            .map(t -> {
                                Map<String, Object> p = new LinkedHashMap<>();
                                p.put("name", s.name());
                                int hash = t.getT1().lastIndexOf('#');
                                p.put("owner", hash < 0 ? null : t.getT1().substring(0, hash));
                                p.put("token", hash < 0 ? null : Long.parseLong(t.getT1().substring(hash + 1)));
                                p.put("expiresInMs", hash < 0 ? null : t.getT2());
                                p.put("stateHere", s.state().name());
                                return p;
                            }))
                    .collectList()
                    .map(pipelines -> {
                        Map<String, Object> out = new LinkedHashMap<>();
                        out.put("instance", config.id());
                        out.put("leaseTimeMs", config.leaseTime().toMillis());
                        out.put("instances", instances);
                        out.put("pipelines", pipelines);
                        return out;
                    });
        });
    }

    /**
     * Checks in Redis that the lease is still this one and appends the write to the write log (when
     * {@code writeLog} is not 0), in one script: emits whether the lease holds.
     */
    Mono<Boolean> fence(Lease lease, String sink, List<Chunk> batch) {
        Map<String, long[]> ranges = new LinkedHashMap<>();
        for (Chunk chunk : batch) {
            long offset = chunk.offset().value();
            ranges.merge(chunk.origin(), new long[] {offset, offset},
                    (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
        }
        StringBuilder origins = new StringBuilder();
        ranges.forEach((origin, r) -> origins.append(origin).append('\t').append(r[0]).append('\t').append(r[1]).append('\n'));
        return redis().<Long>eval(WRITE, ScriptOutputType.INTEGER, new String[] {leaseKey(lease.pipeline()), WRITES},
                        lease.value(config.id()), Integer.toString(config.writeLog()),
                        "instance", config.id(), "pipeline", lease.pipeline(), "token", Long.toString(lease.token()),
                        "sink", sink, "origins", origins.toString())
                .next()
                .map(held -> held == 1);
    }

    /** A sink that writes only while the lease is valid, each write logged first. */
    Sink leased(Sink sink, Lease lease) {
        return new LeasedSink(sink, lease, this);
    }

    @Override
    public void close() {
        if (keeper != null) {
            keeper.dispose();
        }
        synchronized (this) {
            if (connection != null) {
                connection.close();
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
                connection = null;
            }
        }
    }

    /**
     * A pipeline's lease as this instance holds it: the fencing token, and until when it is valid by
     * this instance's clock.
     */
    static final class Lease {

        private final String pipeline;
        private final long token;
        private final long leaseNanos;
        private volatile long validUntilNanos;

        Lease(String pipeline, long token, long sentNanos, Duration leaseTime) {
            this.pipeline = pipeline;
            this.token = token;
            this.leaseNanos = leaseTime.toNanos();
            renewed(sentNanos);
        }

        String pipeline() {
            return pipeline;
        }

        long token() {
            return token;
        }

        String value(String instance) {
            return instance + "#" + token;
        }

        /** A renewal sent at {@code sentNanos} succeeded: valid until nine tenths of the lease time after it. */
        void renewed(long sentNanos) {
            validUntilNanos = sentNanos + leaseNanos - leaseNanos / 10;
        }

        boolean valid() {
            return System.nanoTime() - validUntilNanos < 0;
        }

        @Override
        public String toString() {
            return "lease of " + pipeline + " (token " + token + ")";
        }
    }

    /**
     * Refuses a write once the lease ended, by this instance's clock or in Redis; logs every other
     * before it starts.
     */
    private static final class LeasedSink extends ForwardingSink {

        private final Lease lease;
        private final Instances instances;

        LeasedSink(Sink delegate, Lease lease, Instances instances) {
            super(delegate);
            this.lease = lease;
            this.instances = instances;
        }

        @Override
        public Mono<Void> write(Chunk chunk) {
            return writeBatch(List.of(chunk));
        }

        private PipelineException ended() {
            return new PipelineException("pipeline " + lease.pipeline() + ": this instance's lease (token "
                    + lease.token() + ") ended; it writes nothing more", null, true);
        }

        @Override
        public Mono<Void> writeBatch(List<Chunk> batch) {
            return Mono.defer(() -> {
                if (!lease.valid()) {
                    return Mono.error(ended());
                }
                return instances.fence(lease, name(), batch).flatMap(held -> held
                        ? (batch.size() == 1 ? delegate().write(batch.get(0)) : delegate().writeBatch(batch))
                        : Mono.error(ended()));
            });
        }
    }
}
