package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.testsupport.ClickHouseCluster;
import dev.changepipe.testsupport.ClickHouseServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service into a real 2 x 2 ClickHouse cluster (docs/clickhouse-sink.md, "On a cluster"): the sink
 * creates the database, {@code ReplicatedReplacingMergeTree} shards and a {@code Distributed} table over
 * them {@code ON CLUSTER} ({@code shardBy}); a log of 1 M changes replicated in replacing mode through the
 * {@code Distributed} table holds, after {@code FINAL} through the {@code Distributed} table, exactly the log's final state
 * as soon as the run has ended (a write through the {@code Distributed} table is acknowledged once every
 * shard has its rows, not once they are queued on the node the sink talks to); every replica of a shard
 * ends with the same rows; {@code ./pipeline verify} through the {@code Distributed} table finds it equal.
 * A log replayed from its start writes each of its blocks once (the replicated tables' deduplication).
 * Then a replica and a whole shard stopped under a following service: nothing lost, nothing doubled.
 */
class ClusterIntegrationTest {

    private static final int CHANGES = 1_000_000;

    @Test
    void aLogReplicatedThroughADistributedTableIsTheLogsFinalStateOnTheClusterWhenTheRunEnds(@TempDir Path dir)
            throws Exception {
        Path log = dir.resolve("shop.log");
        Demo.Expected expected = Demo.generate(log, CHANGES, 11);
        try (ClickHouseCluster cluster = ClickHouseCluster.start(2, 2)) {
            ClickHouseServer first = cluster.server(1, 1).server();
            // the sink creates the database and the tables ON CLUSTER: ReplicatedReplacingMergeTree shards
            // (shop_order_local) under a Distributed table (shop_order) sharded by the key, so that every
            // version of a key is on one shard and FINAL is right on each
            Path config = dir.resolve("service.yaml");
            Files.writeString(config, """
                    checkpoints:
                      directory: %1$s/checkpoints
                    connections:
                      clickhouse:
                        cluster:
                          endpoints: ["%2$s"]
                          database: shop
                    pipelines:
                      - name: shop
                        source:
                          type: oplog-file
                          path: %4$s
                          mode: snapshot
                          chunkMaxBytes: 256KiB
                        sinks:
                          - type: clickhouse
                            connection: cluster
                            cluster: %3$s
                            tables:
                              shop.order:
                                target: shop_order
                                create:
                                  columns: ["id UInt64", "uuid UUID", "customer UInt32", "status String", "total Decimal(12, 2)", "created DateTime"]
                                  orderBy: [id]
                                  shardBy: id
                    """.formatted(dir, first.httpUrl(), ClickHouseCluster.NAME, log));

            Map.Entry<Integer, String> run = ServiceUnderTest.launcher(Map.of(), "run", "--config", config.toString());
            assertThat(run.getKey()).as(run.getValue()).isZero();
            assertThat(first.execute("SELECT engine FROM system.tables WHERE database = 'shop' ORDER BY name"
                    + " FORMAT TabSeparated")).isEqualTo("Distributed\nReplicatedReplacingMergeTree\n");
            // at once, not eventually: the run ended, so every row it acknowledged is on its shard
            assertThat(first.execute("SELECT count(), sum(total) FROM shop.shop_order FINAL WHERE is_deleted = 0"
                    + " FORMAT TabSeparated")).isEqualTo(expected.liveOrders() + "\t" + expected.totalOfLive() + "\n");
            long onShards = 0;
            for (int shard = 1; shard <= 2; shard++) {
                String local = "SELECT count() FROM shop.shop_order_local FINAL WHERE is_deleted = 0";
                String rows = cluster.server(shard, 1).server().execute(local).trim();
                ClickHouseServer replica = cluster.server(shard, 2).server();
                await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(replica.execute(local).trim())
                        .isEqualTo(rows));
                onShards += Long.parseLong(rows);
                assertThat(Long.parseLong(rows)).as("shard %d holds a part of the rows", shard).isPositive();
            }
            assertThat(onShards).isEqualTo(expected.liveOrders());

            Map.Entry<Integer, String> verify = VerifyIntegrationTest.verify(config);
            assertThat(verify.getKey()).as(verify.getValue()).isEqualTo(Cli.OK);
            assertThat(verify.getValue()).contains("shop.shop_order (replacing), 6 column(s) compared")
                    .contains("digested " + String.format("%,d", expected.liveOrders()) + " row(s)");

            aReplayedBatchIsWrittenOnce(cluster, dir);
            replicaAndShardStoppedMidStream(cluster, dir, false);
            replicaAndShardStoppedMidStream(cluster, dir, true);
        }
    }

    /**
     * The replicated tables' block deduplication: a log replayed from the start (its checkpoints
     * deleted) with the sync pusher writes the same chunks as the same blocks, which every shard drops
     * as already written, so the shards' tables hold each row once, not only after {@code FINAL}.
     */
    private static void aReplayedBatchIsWrittenOnce(ClickHouseCluster cluster, Path dir) throws Exception {
        Path log = dir.resolve("replay.log");
        Demo.Expected expected = Demo.generate(log, 20_000, 5);
        Path config = dir.resolve("replay.yaml");
        Files.writeString(config, """
                checkpoints:
                  directory: %1$s/replay-checkpoints
                connections:
                  clickhouse:
                    cluster:
                      endpoints: ["%2$s"]
                      database: replay
                pipelines:
                  - name: replay
                    source:
                      type: oplog-file
                      path: %4$s
                      mode: snapshot
                      chunkMaxBytes: 256KiB
                    pusher:
                      kind: sync
                    sinks:
                      - type: clickhouse
                        connection: cluster
                        cluster: %3$s
                        tables:
                          shop.order:
                            target: replay_order
                            create:
                              columns: ["id UInt64", "uuid UUID", "customer UInt32", "status String", "total Decimal(12, 2)", "created DateTime"]
                              orderBy: [id]
                              shardBy: id
                """.formatted(dir, cluster.server(1, 1).server().httpUrl(), ClickHouseCluster.NAME, log));
        // each block a shard took is recorded in ZooKeeper (the last 100 by default); a block dropped as
        // already written adds none
        long[] blocks = new long[2];
        for (int run = 0; run < 2; run++) {
            Map.Entry<Integer, String> result = ServiceUnderTest.launcher(Map.of(), "run", "--config", config.toString());
            assertThat(result.getKey()).as(result.getValue()).isZero();
            for (int shard = 1; shard <= 2; shard++) {
                ClickHouseServer server = cluster.server(shard, 1).server();
                String macro = server.execute("SELECT substitution FROM system.macros WHERE macro = 'shard'").trim();
                blocks[run] += Long.parseLong(server.execute("SELECT count() FROM system.zookeeper WHERE path = "
                        + "'/clickhouse/tables/" + macro + "/replay.replay_order_local/blocks'").trim());
            }
            try (var files = Files.walk(dir.resolve("replay-checkpoints"))) {
                files.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(java.io.File::delete);
            }
        }
        assertThat(blocks[0]).as("blocks written by the first run").isGreaterThan(2);
        assertThat(blocks[1]).as("blocks after the replay").isEqualTo(blocks[0]);
        assertThat(cluster.server(1, 1).server().execute("SELECT count() FROM replay.replay_order FINAL WHERE is_deleted = 0")
                .trim()).isEqualTo(Long.toString(expected.liveOrders()));
    }

    /**
     * A service follows a log into the cluster, its endpoints every node; mid-stream a replica of the first
     * shard is killed (SIGKILL) and both replicas of the second are stopped, and all started again once the
     * log is written: nothing is lost, nothing doubled after {@code FINAL}, and the stopped shard catches up
     * (its replicas equal).
     * With {@code direct} the connection lists the shards, and the sink writes each row to its shard's
     * local table itself, as the {@code Distributed} table would route it (even keys on the first shard,
     * odd on the second); while the second shard is down the first keeps receiving its rows, and no
     * checkpoint passes the rows the second shard has not taken.
     */
    private static void replicaAndShardStoppedMidStream(ClickHouseCluster cluster, Path dir, boolean direct)
            throws Exception {
        String name = direct ? "direct" : "events";
        Path log = dir.resolve(name + ".log");
        Files.writeString(log, "");
        Path config = dir.resolve(name + ".yaml");
        String shards = "";
        if (direct) {
            List<String> urls = cluster.httpUrls();
            shards = "      shards: [[\"%s\", \"%s\"], [\"%s\", \"%s\"]]\n".formatted(cluster.server(1, 1).server().httpUrl(),
                    cluster.server(1, 2).server().httpUrl(), cluster.server(2, 1).server().httpUrl(),
                    cluster.server(2, 2).server().httpUrl());
            assertThat(urls).hasSize(4);
        }
        Files.writeString(config, """
                http:
                  host: 127.0.0.1
                  port: 0
                  portFile: %1$s/%6$s.port
                  token: %5$s
                checkpoints:
                  directory: %1$s/%6$s-checkpoints
                connections:
                  clickhouse:
                    cluster:
                      endpoints: [%2$s]
                      database: shop
                %7$s
                pipelines:
                  - name: events
                    source:
                      type: oplog-file
                      path: %4$s
                      mode: follow
                      pollInterval: 100ms
                    sinks:
                      - type: clickhouse
                        connection: cluster
                        cluster: %3$s
                        tables:
                          shop.event:
                            target: %6$s
                            create:
                              columns: ["id UInt64", "n UInt64"]
                              orderBy: [id]
                              shardBy: id
                """.formatted(dir, String.join(", ", cluster.httpUrls().stream().map(u -> "\"" + u + "\"").toList()),
                ClickHouseCluster.NAME, log, ServiceUnderTest.TOKEN, name, shards.stripTrailing()));
        int keys = 2_000;
        int batches = 60;
        long sizeWhenStopped = 0;
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve(name + ".port"), Map.of())) {
            for (int batch = 1; batch <= batches; batch++) {
                StringBuilder lines = new StringBuilder();
                for (int id = 1; id <= keys; id += 7) {
                    int key = 1 + (id + batch * 13) % keys;
                    lines.append(1_700_000_000L + batch).append(" SAVE [{\"model\": \"shop.event\", \"pk\": ")
                            .append(key).append(", \"fields\": {\"n\": ").append(batch).append("}}]\n");
                }
                Files.writeString(log, lines, java.nio.file.StandardOpenOption.APPEND);
                if (batch == 20) {
                    // caught up first, so that the writes after the stop carry the rows of later batches
                    long written = Files.size(log);
                    await().atMost(Duration.ofSeconds(60)).until(() -> acknowledgedBytes(service) >= written);
                    cluster.server(1, 2).kill();
                    cluster.server(2, 1).stop();
                    cluster.server(2, 2).stop();
                    sizeWhenStopped = Files.size(log);
                }
                await().pollDelay(Duration.ofMillis(30)).until(() -> true);
            }
            // the writes of the second shard's rows fail meanwhile, and are retried, not acknowledged
            // (the sink's error counter, which counts every failed attempt, not the status's lastError, which a
            // write that succeeds in between clears)
            try {
                await().atMost(Duration.ofSeconds(120)).until(() -> sinkErrors(service) > 0);
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                throw new AssertionError("no write failed while the shard was down; status: "
                        + service.pipeline("events") + "\nservice log:\n" + service.output(), e);
            }
            if (direct) {
                // the first shard took rows of batches written after the second one stopped...
                ClickHouseServer up = cluster.server(1, 1).server();
                await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(Long.parseLong(up.execute(
                        "SELECT max(n) FROM shop." + name + "_local").trim())).isGreaterThan(20));
                assertThat(up.execute("SELECT countIf(id % 2 != 0) FROM shop." + name + "_local").trim()).isEqualTo("0");
                // ...and nothing of the log past the second shard's last rows is acknowledged
                assertThat(acknowledgedBytes(service)).isLessThanOrEqualTo(sizeWhenStopped);
            }
            cluster.server(2, 1).start();
            cluster.server(2, 2).start();
            cluster.server(1, 2).start();
            // the last batch that wrote each key: what FINAL must show
            Map<Integer, Integer> last = new java.util.HashMap<>();
            for (int batch = 1; batch <= batches; batch++) {
                for (int id = 1; id <= keys; id += 7) {
                    last.put(1 + (id + batch * 13) % keys, batch);
                }
            }
            long sum = last.values().stream().mapToLong(Integer::longValue).sum();
            ClickHouseServer first = cluster.server(1, 1).server();
            await().atMost(Duration.ofSeconds(120)).ignoreExceptions().untilAsserted(() -> assertThat(first.execute(
                    "SELECT count(), sum(n) FROM shop." + name + " FINAL WHERE is_deleted = 0 FORMAT TabSeparated"))
                    .isEqualTo(last.size() + "\t" + sum + "\n"));
            // each shard's replicas end with the same rows, which together are the final state
            String local = "SELECT count(), sum(n) FROM shop." + name + "_local FINAL FORMAT TabSeparated";
            await().atMost(Duration.ofSeconds(120)).ignoreExceptions().untilAsserted(() -> {
                long count = 0;
                long total = 0;
                for (int shard = 1; shard <= 2; shard++) {
                    if (direct) {
                        assertThat(cluster.server(shard, 1).server().execute("SELECT countIf(id % 2 != " + (shard - 1)
                                + ") FROM shop." + name + "_local").trim()).as("rows on shard %d", shard).isEqualTo("0");
                    }
                    String rows = cluster.server(shard, 1).server().execute(local);
                    assertThat(cluster.server(shard, 2).server().execute(local)).isEqualTo(rows);
                    String[] f = rows.trim().split("\t");
                    count += Long.parseLong(f[0]);
                    total += Long.parseLong(f[1]);
                }
                assertThat(count + "\t" + total).isEqualTo(last.size() + "\t" + sum);
            });
            assertThat(service.terminate(Duration.ofSeconds(60))).isZero();
        }
    }

    /** {@code changepipe_sink_errors_total} of the service's pipeline {@code events}: failed writes and retried attempts. */
    private static double sinkErrors(ServiceUnderTest service) throws Exception {
        double errors = 0;
        for (String line : service.get("/metrics").body().split("\n")) {
            if (line.startsWith("changepipe_sink_errors_total{") && line.contains("pipeline=\"events\"")) {
                errors += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return errors;
    }

    /** The bytes of the log the service's pipeline {@code events} acknowledged (its checkpoint); 0 before any. */
    private static long acknowledgedBytes(ServiceUnderTest service) throws Exception {
        long bytes = 0;
        for (JsonNode checkpoint : service.pipeline("events").path("offsets")) {
            java.util.regex.Matcher position = java.util.regex.Pattern.compile("byte (\\d+)")
                    .matcher(checkpoint.path("position").asText());
            assertThat(position.find()).as(checkpoint.toString()).isTrue();
            bytes = Math.max(bytes, Long.parseLong(position.group(1)));
        }
        return bytes;
    }
}
