package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several service instances on one set of sources (docs/deployment.md, "More than one service
 * instance"): three instances of {@code ./pipeline run} with the same configuration share two
 * pipelines through leases in Redis (the first to start takes both, and hands one over once the others
 * are alive). The holder of a pipeline's lease is SIGKILLed again and again
 * while the logs grow (and started again under a new name): another instance takes the pipeline over
 * from its checkpoints, ClickHouse ends equal to the logs, and the write log in Redis shows that no
 * write under a lease ever followed a write of the same origin under a newer one. Then the holder is
 * paused (SIGSTOP) until its lease moved, and resumed: it writes nothing more and stands by. An instance
 * stopped with SIGTERM releases its leases.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class InstancesIntegrationTest {

    private static final Duration LEASE = Duration.ofSeconds(2);
    /** The pipelines of the two logs; with "users", a storage-sync pipeline, every pipeline. */
    private static final List<String> PIPELINES = List.of("a", "b");
    private static final List<String> ALL = List.of("a", "b", "users");
    private static final int KEYS = 3_000;

    @Test
    void aKilledOrPausedInstancesPipelinesMoveToAnotherAndNoOriginIsWrittenUnderAnOldLeaseAfterANewOne(
            RedisServer redis, PostgresServer pg, ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String database = "instances_" + Long.toHexString(System.nanoTime());
        String app = pg.createDatabase("instances_app");
        pg.execute(app, "CREATE TABLE app_user (id bigint PRIMARY KEY, name text NOT NULL)");
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, redis, pg.r2dbcUrl(app), ch, database, PIPELINES));
        Map<String, Map<Long, String>> expected = new HashMap<>();
        ALL.forEach(p -> expected.put(p, new TreeMap<>()));
        RedisClient client = RedisClient.create(redis.uri());
        Map<String, ServiceUnderTest> instances = new LinkedHashMap<>();
        for (String p : PIPELINES) {
            Files.writeString(dir.resolve(p + ".log"), "");
        }
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> r = connection.sync();
            r.del(Instances.WRITES, Instances.LEASE_TOKENS, Instances.INSTANCES);
            for (String p : ALL) {
                r.del(Instances.leaseKey(p), Instances.PREFIX + "checkpoints:" + p, Instances.PREFIX + "claims:" + p);
            }
            for (int i = 1; i <= 3; i++) {
                start(instances, dir, config, "i" + i + ".0");
            }
            // the work is shared: the instance that came first took every pipeline, and hands them over until
            // each instance runs one
            await().atMost(Duration.ofSeconds(30)).until(() -> ALL.stream().map(p -> held(r, p).instance()).distinct()
                    .count() == 3);
            int round = 0;
            // SIGKILL the holder of a pipeline's lease once it wrote under it, six times, the sources changing
            // meanwhile (the logs grow, rows of the application's table change and are registered)
            for (int kill = 0; kill < 6; kill++) {
                append(dir, expected, round++);
                change(pg, app, instances, expected, round++);
                String pipeline = ALL.get(kill % ALL.size());
                long writing = held(r, pipeline).token();
                await().atMost(Duration.ofSeconds(30)).until(() -> wrote(r, pipeline, writing));
                Held held = held(r, pipeline);
                String holder = held.instance();
                long token = held.token();
                instances.remove(holder).kill();
                append(dir, expected, round++);
                change(pg, app, instances, expected, round++);
                // another instance takes the pipeline over from its checkpoints within the lease time (and a round)
                await().atMost(LEASE.multipliedBy(3)).until(() -> token(r, pipeline) > token);
                long next = token(r, pipeline);
                start(instances, dir, config, holder.substring(0, holder.indexOf('.')) + "." + (kill + 1));
                awaitWrite(r, instances, pipeline, next);
            }

            // pause the holder of "a" until the lease moved and the new holder wrote; resume it
            append(dir, expected, round++);
            Held pausedHeld = held(r, "a");
            String paused = pausedHeld.instance();
            long pausedToken = pausedHeld.token();
            ServiceUnderTest stopped = instances.get(paused);
            signal("STOP", stopped);
            try {
                await().atMost(LEASE.multipliedBy(3)).until(() -> token(r, "a") > pausedToken);
                long next = token(r, "a");
                append(dir, expected, round++);
                await().atMost(Duration.ofSeconds(30)).until(() -> wrote(r, "a", next));
            } finally {
                signal("CONT", stopped);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> "STANDBY".equals(stopped.pipeline("a").get("state").asText()));
            append(dir, expected, round++);

            change(pg, app, instances, expected, round++);

            // ClickHouse ends equal to the logs and to the application's table
            for (String p : ALL) {
                String want = expected.get(p).entrySet().stream().map(e -> e.getKey() + "\t" + e.getValue() + "\n")
                        .collect(Collectors.joining());
                await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(ch.execute("SELECT id, name FROM "
                        + database + "." + p + "_item FINAL WHERE is_deleted = 0 ORDER BY id FORMAT TabSeparated"))
                        .isEqualTo(want));
            }

            // the write log: per origin, the lease tokens never go down; each token is one instance's
            List<StreamMessage<String, String>> log = r.xrange(Instances.WRITES, io.lettuce.core.Range.create("-", "+"));
            Map<String, Long> newest = new HashMap<>();
            Map<String, String> tokenOwner = new HashMap<>();
            Map<String, Integer> tokensPerPipeline = new LinkedHashMap<>();
            for (StreamMessage<String, String> m : log) {
                Map<String, String> e = m.getBody();
                String key = e.get("pipeline") + "#" + e.get("token");
                String owner = tokenOwner.putIfAbsent(key, e.get("instance"));
                assertThat(owner == null ? e.get("instance") : owner).as("instance of lease %s", key).isEqualTo(e.get("instance"));
                long token = Long.parseLong(e.get("token"));
                for (String line : e.get("origins").split("\n")) {
                    String origin = e.get("pipeline") + "/" + line.split("\t")[0];
                    Long before = newest.put(origin, token);
                    assertThat(before == null ? token : before).as("write %s of %s under token %d after token %d",
                            m.getId(), origin, token, before).isLessThanOrEqualTo(token);
                    if (before == null || before < token) {
                        tokensPerPipeline.merge(e.get("pipeline"), 1, Integer::sum);
                    }
                }
            }
            // every kill and the pause moved a lease to an instance that then wrote
            assertThat(tokensPerPipeline.get("a")).isGreaterThanOrEqualTo(4);
            assertThat(tokensPerPipeline.get("b")).isGreaterThanOrEqualTo(3);
            assertThat(tokensPerPipeline.get("users")).isGreaterThanOrEqualTo(3);

            // a pipeline paused on its holder stays paused: the lease stays there, no other instance runs it
            Held before = held(r, "a");
            ServiceUnderTest holderOfA = instances.get(before.instance());
            assertThat(holderOfA.post("/api/pipelines/a/pause", ServiceUnderTest.TOKEN, "").statusCode()).isEqualTo(200);
            await().during(LEASE.multipliedBy(2)).atMost(LEASE.multipliedBy(4)).until(() -> held(r, "a").equals(before));
            assertThat(holderOfA.post("/api/pipelines/a/resume", ServiceUnderTest.TOKEN, "").statusCode()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(30)).until(() -> "RUNNING".equals(holderOfA.pipeline("a").get("state").asText()));

            // a graceful stop drains and hands the leases over at once
            String leaving = held(r, "b").instance();
            ServiceUnderTest left = instances.remove(leaving);
            try {
                assertThat(left.terminate(Duration.ofSeconds(30))).isZero();
            } finally {
                left.close(); // a run that did not stop must not outlive the test
            }
            assertThat(left.output()).contains("pipeline b: lease released");

            // /api/cluster and the metrics: who owns what
            ServiceUnderTest any = instances.values().iterator().next();
            String metrics = any.get("/metrics").body();
            assertThat(metrics).contains("changepipe_instance_lease{pipeline=\"a\"", "changepipe_instance_takeovers_total");
            await().atMost(LEASE.multipliedBy(3)).untilAsserted(() -> {
                JsonNode cluster = ServiceUnderTest.json(any.get("/api/cluster"));
                assertThat(cluster.get("instances").findValuesAsText("id")).containsAll(instances.keySet());
                for (JsonNode p : cluster.get("pipelines")) {
                    String name = p.get("name").asText();
                    assertThat(p.get("owner").asText()).isIn(instances.keySet()).isEqualTo(held(r, name).instance());
                }
            });
        } finally {
            instances.values().forEach(ServiceUnderTest::close);
            client.shutdown();
        }
    }

    /**
     * An instance cut off from Redis (every connection to it closed, new ones refused) loses its
     * pipeline to another instance within the lease time, and once the network heals it writes nothing
     * more: its pipeline stands by, and the write log has no write of its lease after the new holder's
     * first.
     */
    @Test
    void anInstanceCutOffFromRedisLosesItsPipelineAndWritesNothingMoreWhenItComesBack(RedisServer redis,
            ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String database = "instances_cut_" + Long.toHexString(System.nanoTime());
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, redis, null, ch, database, List.of("c")));
        Files.writeString(dir.resolve("c.log"), "");
        Map<String, Map<Long, String>> expected = Map.of("c", new TreeMap<>());
        RedisClient client = RedisClient.create(redis.uri());
        Map<String, ServiceUnderTest> instances = new LinkedHashMap<>();
        try (StatefulRedisConnection<String, String> connection = client.connect();
                RedisLink link = RedisLink.open(redis.host(), redis.port())) {
            RedisCommands<String, String> r = connection.sync();
            r.del(Instances.leaseKey("c"), Instances.PREFIX + "checkpoints:c", Instances.PREFIX + "claims:c");
            start(instances, dir, config, "cut", Map.of("REDIS_URI", "redis://127.0.0.1:" + link.port()));
            appendTo(dir, "c", expected.get("c"), 0);
            Held first = held(r, "c");
            assertThat(first.instance()).isEqualTo("cut");
            await().atMost(Duration.ofSeconds(30)).until(() -> wrote(r, "c", first.token()));
            start(instances, dir, config, "other");

            link.cut();
            appendTo(dir, "c", expected.get("c"), 1);
            await().atMost(LEASE.multipliedBy(4)).until(() -> token(r, "c") > first.token());
            long next = token(r, "c");
            await().atMost(Duration.ofSeconds(30)).until(() -> wrote(r, "c", next));
            link.heal();
            await().atMost(Duration.ofSeconds(30)).until(() -> "STANDBY".equals(instances.get("cut").pipeline("c")
                    .get("state").asText()));
            appendTo(dir, "c", expected.get("c"), 2);

            String want = expected.get("c").entrySet().stream().map(e -> e.getKey() + "\t" + e.getValue() + "\n")
                    .collect(Collectors.joining());
            await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(ch.execute("SELECT id, name FROM "
                    + database + ".c_item FINAL WHERE is_deleted = 0 ORDER BY id FORMAT TabSeparated")).isEqualTo(want));
            boolean newerSeen = false;
            for (StreamMessage<String, String> m : r.xrange(Instances.WRITES, io.lettuce.core.Range.create("-", "+"))) {
                if (!m.getBody().get("pipeline").equals("c")) {
                    continue;
                }
                long token = Long.parseLong(m.getBody().get("token"));
                newerSeen |= token >= next;
                assertThat(newerSeen && token < next).as("write %s under token %d after token %d", m.getId(), token, next)
                        .isFalse();
            }
            assertThat(newerSeen).isTrue();
        } finally {
            instances.values().forEach(ServiceUnderTest::close);
            client.shutdown();
        }
    }

    private static void start(Map<String, ServiceUnderTest> instances, Path dir, Path config, String id) throws Exception {
        start(instances, dir, config, id, Map.of());
    }

    private static void start(Map<String, ServiceUnderTest> instances, Path dir, Path config, String id,
            Map<String, String> env) throws Exception {
        Path home = Files.createDirectories(dir.resolve(id));
        Map<String, String> all = new HashMap<>(env);
        all.putAll(Map.of("INSTANCE_ID", id, "INSTANCE_DIR", home.toString(), "SERVICE_TOKEN", ServiceUnderTest.TOKEN));
        instances.put(id, ServiceUnderTest.start(home, config, home.resolve("http.port"), all));
    }

    /** Waits for a write of the pipeline under the lease {@code token} or a later one; on a timeout, says what its holder says. */
    private static void awaitWrite(RedisCommands<String, String> r, Map<String, ServiceUnderTest> instances,
            String pipeline, long token) throws Exception {
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> wrote(r, pipeline, token));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            Held held = held(r, pipeline);
            ServiceUnderTest holder = instances.get(held.instance());
            throw new AssertionError("no write of pipeline " + pipeline + " under token " + token + "; now " + held
                    + (holder == null ? "" : ", its status: " + holder.pipeline(pipeline) + "\nits log:\n" + holder.output()), e);
        }
    }

    /** Who holds a pipeline's lease, and its token: one read. */
    private record Held(String instance, long token) {
    }

    /** The pipeline's lease, once an instance holds it. */
    private static Held held(RedisCommands<String, String> r, String pipeline) {
        String[] held = new String[1];
        await().atMost(LEASE.multipliedBy(3)).until(() -> (held[0] = r.get(Instances.leaseKey(pipeline))) != null);
        int hash = held[0].lastIndexOf('#');
        return new Held(held[0].substring(0, hash), Long.parseLong(held[0].substring(hash + 1)));
    }

    private static long token(RedisCommands<String, String> r, String pipeline) {
        String held = r.get(Instances.leaseKey(pipeline));
        return held == null ? 0 : Long.parseLong(held.substring(held.lastIndexOf('#') + 1));
    }

    /**
     * Whether the write log has a write of the pipeline under the lease {@code token} or a later one (the
     * instances balancing their work may move the lease on before its holder wrote).
     */
    private static boolean wrote(RedisCommands<String, String> r, String pipeline, long token) {
        return r.xrevrange(Instances.WRITES, io.lettuce.core.Range.create("-", "+"), io.lettuce.core.Limit.from(2000))
                .stream().anyMatch(m -> m.getBody().get("pipeline").equals(pipeline)
                        && Long.parseLong(m.getBody().get("token")) >= token);
    }

    /**
     * A round of changes to both logs: 1,000 keys from a place that moves with the round, named after
     * the round, so that later rounds update earlier keys.
     */
    private static void append(Path dir, Map<String, Map<Long, String>> expected, int round) throws Exception {
        for (String p : PIPELINES) {
            appendTo(dir, p, expected.get(p), round);
        }
    }

    /** {@link #append} to the log of pipeline {@code p} alone. */
    private static void appendTo(Path dir, String p, Map<Long, String> expected, int round) throws Exception {
        StringBuilder b = new StringBuilder();
        int from = round * 700 % KEYS;
        for (int i = 0; i < 1_000; i++) {
            long id = (from + i) % KEYS + 1;
            String name = p + "-r" + round + "-" + id;
            b.append(1_700_000_000 + round).append(" SAVE [{\"model\": \"app.item\", \"pk\": ").append(id)
                    .append(", \"fields\": {\"name\": \"").append(name).append("\"}}]\n");
            expected.put(id, name);
        }
        Files.writeString(dir.resolve(p + ".log"), b, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }

    /**
     * A round of changes to the application's table: 300 rows inserted or updated, named after the
     * round, and their keys registered over HTTP with one of the instances (any: they all write to
     * the operations storage in Redis).
     */
    private static void change(PostgresServer pg, String app, Map<String, ServiceUnderTest> instances,
            Map<String, Map<Long, String>> expected, int round) throws Exception {
        StringBuilder values = new StringBuilder();
        StringBuilder pks = new StringBuilder();
        int from = round * 170 % 1_000;
        for (int i = 0; i < 300; i++) {
            long id = (from + i) % 1_000 + 1;
            String name = "u-r" + round + "-" + id;
            values.append(i == 0 ? "" : ", ").append("(").append(id).append(", '").append(name).append("')");
            pks.append(i == 0 ? "" : ", ").append(id);
            expected.get("users").put(id, name);
        }
        pg.execute(app, "INSERT INTO app_user VALUES " + values + " ON CONFLICT (id) DO UPDATE SET name = excluded.name");
        ServiceUnderTest any = instances.values().iterator().next();
        var registered = any.post("/api/operations", ServiceUnderTest.TOKEN,
                "{\"importKey\": \"app.user\", \"operation\": \"update\", \"pks\": [" + pks + "]}");
        assertThat(registered.statusCode()).as(registered.body()).isEqualTo(200);
    }

    private static void signal(String signal, ServiceUnderTest s) throws Exception {
        // the launcher runs java as its child (exec): the JVM is the process or its only descendant
        List<Long> pids = new ArrayList<>(List.of(s.process.pid()));
        s.process.descendants().forEach(h -> pids.add(h.pid()));
        for (long pid : pids) {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
            assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    /**
     * The instances' configuration: a following log pipeline for each of {@code logs}, and with
     * {@code app} (a PostgreSQL URL) the storage-sync pipeline {@code users}. {@code REDIS_URI} in the
     * environment of an instance replaces the Redis's address.
     */
    private static String config(Path dir, RedisServer redis, String app, ClickHouseServer ch, String database,
            List<String> logs) {
        StringBuilder pipelines = new StringBuilder();
        for (String p : logs) {
            pipelines.append("""
                      - name: %1$s
                        source:
                          type: oplog-file
                          path: %2$s/%1$s.log
                          mode: follow
                          pollInterval: 100ms
                          chunkMaxBytes: 16KiB
                        sinks:
                          - type: clickhouse
                            connection: test
                            tables:
                              app.item:
                                target: %1$s_item
                                create:
                                  columns: ["id UInt64", "name String"]
                                  orderBy: [id]
                    """.formatted(p, dir));
        }
        pipelines.append(app == null ? "" : """
                  - name: users
                    source:
                      type: storage-sync
                      connection: main
                      keyPrefix: %1$s_ops
                      importKeys:
                        app.user:
                          delay: 100ms
                      databases:
                        default: app
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          app.user:
                            target: users_item
                            create:
                              columns: ["id UInt64", "name String"]
                              orderBy: [id]
                """.formatted(database));
        return """
                http:
                  port: 0
                  portFile: ${INSTANCE_DIR}/http.port
                  token: ${SERVICE_TOKEN}
                checkpoints:
                  directory: ${INSTANCE_DIR}/checkpoints
                restart:
                  minBackoff: 200ms
                  maxBackoff: 1s
                instances:
                  redis: main
                  id: ${INSTANCE_ID}
                  leaseTime: %4$s
                connections:
                  redis:
                    main:
                      uri: ${REDIS_URI:-%1$s}
                %6$s
                  clickhouse:
                    test:
                      endpoints: ["%2$s"]
                      database: %3$s
                pipelines:
                %5$s""".formatted(redis.uri(), ch.httpUrl(), database, LEASE.toMillis() + "ms", pipelines,
                app == null ? "" : "  postgres:\n    app:\n      url: " + app);
    }

    /** A TCP link to Redis that can be cut (every connection closed, new ones refused) and healed. */
    private static final class RedisLink implements AutoCloseable {

        private final java.net.ServerSocket server;
        private final String host;
        private final int target;
        private final List<java.net.Socket> open = new java.util.concurrent.CopyOnWriteArrayList<>();
        private volatile boolean cut;

        private RedisLink(String host, int target) throws java.io.IOException {
            this.host = host;
            this.target = target;
            this.server = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
            Thread accept = new Thread(this::accept, "redis-link");
            accept.setDaemon(true);
            accept.start();
        }

        static RedisLink open(String host, int port) throws java.io.IOException {
            return new RedisLink(host, port);
        }

        int port() {
            return server.getLocalPort();
        }

        void cut() {
            cut = true;
            open.forEach(RedisLink::closeQuietly);
            open.clear();
        }

        void heal() {
            cut = false;
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    java.net.Socket client = server.accept();
                    if (cut) {
                        closeQuietly(client);
                        continue;
                    }
                    java.net.Socket upstream = new java.net.Socket(host, target);
                    open.add(client);
                    open.add(upstream);
                    pump(client, upstream);
                    pump(upstream, client);
                } catch (java.io.IOException e) {
                    // closed, or Redis refused: the client sees its connection end
                }
            }
        }

        private static void pump(java.net.Socket from, java.net.Socket to) {
            Thread t = new Thread(() -> {
                try {
                    from.getInputStream().transferTo(to.getOutputStream());
                } catch (java.io.IOException e) {
                    // cut
                } finally {
                    closeQuietly(from);
                    closeQuietly(to);
                }
            }, "redis-link-pump");
            t.setDaemon(true);
            t.start();
        }

        private static void closeQuietly(java.net.Socket s) {
            try {
                s.close();
            } catch (java.io.IOException ignored) {
                // closing
            }
        }

        @Override
        public void close() throws java.io.IOException {
            cut();
            server.close();
        }
    }
}
