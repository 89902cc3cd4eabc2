package dev.changepipe.testsupport;

import java.util.concurrent.CountDownLatch;

/**
 * {@code scripts/cluster [SHARDS [REPLICAS]]}: starts a local ClickHouse cluster ({@link ClickHouseCluster}:
 * ZooKeeper and 2 shards of 2 replicas by default, on free loopback ports, in temporary directories),
 * prints how to reach it and a sink section that writes into it, and runs until interrupted (Ctrl-C),
 * which stops every server and deletes their data.
 */
public final class ClusterMain {

    private ClusterMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        int shards = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        int replicas = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        System.out.println("Starting ZooKeeper and " + shards + " x " + replicas + " ClickHouse servers...");
        ClickHouseCluster cluster = ClickHouseCluster.start(shards, replicas);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping the cluster and deleting its data...");
            cluster.close();
            stopped.countDown();
        }, "cluster-stop"));
        System.out.println("Cluster " + ClickHouseCluster.NAME + " (ZooKeeper on 127.0.0.1:" + cluster.zooKeeperPort()
                + "):");
        for (int s = 1; s <= cluster.shards(); s++) {
            for (int r = 1; r <= cluster.replicas(); r++) {
                DedicatedClickHouse server = cluster.server(s, r);
                System.out.println("  shard " + s + " replica " + r + ": " + server.server().httpUrl()
                        + " (clickhouse-client --port " + server.tcpPort() + ")");
            }
        }
        System.out.println("""

                A sink that creates replicated shards under a Distributed table (docs/clickhouse-sink.md):

                connections:
                  clickhouse:
                    cluster:
                      endpoints: [%s]
                      database: shop
                      # optional: write each shard's local table directly, rows routed as the Distributed table would
                      # shards: [%s]
                pipelines:
                  - name: shop
                    source: {type: oplog-file, path: shop.log}
                    sinks:
                      - type: clickhouse
                        connection: cluster
                        cluster: %s
                        tables:
                          shop.order:
                            create: {columns: ["id UInt64", "status String"], orderBy: [id], shardBy: id}

                Ctrl-C stops it.""".formatted(String.join(", ", cluster.httpUrls()), shards(cluster), ClickHouseCluster.NAME));
        stopped.await();
    }

    /** {@code [url, url], [url, url]}: each shard's replicas. */
    private static String shards(ClickHouseCluster cluster) {
        java.util.List<String> shards = new java.util.ArrayList<>();
        for (int s = 1; s <= cluster.shards(); s++) {
            java.util.List<String> replicas = new java.util.ArrayList<>();
            for (int r = 1; r <= cluster.replicas(); r++) {
                replicas.add(cluster.server(s, r).server().httpUrl());
            }
            shards.add("[" + String.join(", ", replicas) + "]");
        }
        return String.join(", ", shards);
    }
}
