package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.ClickHouseCluster;
import dev.changepipe.testsupport.ClickHouseServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service into a real 2 x 2 ClickHouse cluster (docs/clickhouse-sink.md, "On a cluster"): a log
 * replicated in replacing mode through a {@code Distributed} table over {@code ReplicatedReplacingMergeTree}
 * shards holds, after {@code FINAL} through the {@code Distributed} table, exactly the log's final state
 * as soon as the run has ended (a write through the {@code Distributed} table is acknowledged once every
 * shard has its rows, not once they are queued on the node the sink talks to); every replica of a shard
 * ends with the same rows; {@code ./pipeline verify} through the {@code Distributed} table finds it equal.
 */
class ClusterIntegrationTest {

    private static final int CHANGES = 20_000;

    @Test
    void aLogReplicatedThroughADistributedTableIsTheLogsFinalStateOnTheClusterWhenTheRunEnds(@TempDir Path dir)
            throws Exception {
        Path log = dir.resolve("shop.log");
        Demo.Expected expected = Demo.generate(log, CHANGES, 11);
        try (ClickHouseCluster cluster = ClickHouseCluster.start(2, 2)) {
            ClickHouseServer first = cluster.server(1, 1).server();
            String on = " ON CLUSTER " + ClickHouseCluster.NAME;
            first.execute("CREATE DATABASE IF NOT EXISTS shop" + on);
            first.execute("CREATE TABLE shop.shop_order_local" + on + " (id UInt64, uuid UUID, customer UInt32,"
                    + " status String, total Decimal(12, 2), created DateTime, version UInt64, is_deleted UInt8)"
                    + " ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/shop.shop_order', '{replica}',"
                    + " version) ORDER BY id");
            // every version of a key on one shard: FINAL is then right on each shard
            first.execute("CREATE TABLE shop.shop_order" + on + " AS shop.shop_order_local ENGINE = Distributed("
                    + ClickHouseCluster.NAME + ", shop, shop_order_local, id)");
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
                    """.formatted(dir, first.httpUrl(), ClickHouseCluster.NAME, log));

            Map.Entry<Integer, String> run = ServiceUnderTest.launcher(Map.of(), "run", "--config", config.toString());
            assertThat(run.getKey()).as(run.getValue()).isZero();
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
        }
    }
}
