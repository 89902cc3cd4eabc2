package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The local cluster works as a real one: {@code ON CLUSTER} DDL reaches every server, a
 * {@code Distributed} table spreads rows over the shards by its sharding key, each shard's replicas
 * hold the same rows, and {@code FINAL} through the {@code Distributed} table sees each key once.
 */
class ClickHouseClusterIntegrationTest {

  @Test
  void twoShardsOfTwoReplicasReplicateAndDistribute() {
    try (ClickHouseCluster cluster = ClickHouseCluster.start(2, 2)) {
      ClickHouseServer first = cluster.server(1, 1).server();
      String on = " ON CLUSTER " + ClickHouseCluster.NAME;
      first.execute("CREATE DATABASE IF NOT EXISTS c" + on);
      first.execute("CREATE TABLE c.t_local" + on + " (id UInt64, v String, version UInt64) ENGINE = "
          + "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/c.t_local', '{replica}', version) ORDER BY id");
      first.execute("CREATE TABLE c.t" + on + " AS c.t_local ENGINE = Distributed(" + ClickHouseCluster.NAME
          + ", c, t_local, id)");
      first.execute("INSERT INTO c.t SELECT number, 'a', 1 FROM system.numbers LIMIT 1000 "
          + "SETTINGS insert_distributed_sync = 1");
      first.execute("INSERT INTO c.t SELECT number, 'b', 2 FROM system.numbers LIMIT 500 "
          + "SETTINGS insert_distributed_sync = 1");

      for (int shard = 1; shard <= 2; shard++) {
        for (int replica = 1; replica <= 2; replica++) {
          ClickHouseServer server = cluster.server(shard, replica).server();
          await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(
              server.execute("SELECT count() FROM c.t_local FINAL").trim()).isEqualTo("500"));
        }
      }
      assertThat(first.execute("SELECT count(), countIf(v = 'b') FROM c.t FINAL FORMAT TabSeparated"))
          .isEqualTo("1000\t500\n");
    }
  }
}
