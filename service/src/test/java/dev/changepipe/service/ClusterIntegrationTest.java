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
 * The service into a real 2 x 2 ClickHouse cluster (docs/clickhouse-sink.md, "On a cluster"): the sink
 * creates the database, {@code ReplicatedReplacingMergeTree} shards and a {@code Distributed} table over
 * them {@code ON CLUSTER} ({@code shardBy}); a log replicated in replacing mode through the
 * {@code Distributed} table holds, after {@code FINAL} through the {@code Distributed} table, exactly the log's final state
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
        }
    }
}
