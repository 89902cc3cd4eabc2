package dev.changepipe.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A private ClickHouse cluster owned by one test: a ZooKeeper (Debian's {@code zookeeper} package, run
 * standalone) and {@code shards x replicas} servers from the installed binary, on free loopback ports,
 * each with the cluster {@value #NAME} in its {@code remote_servers} (internal replication), the macros
 * {@code {shard}} ({@code 01}, {@code 02}...) and {@code {replica}} ({@code r1}, {@code r2}...), and
 * distributed DDL, so that {@code ON CLUSTER} statements, {@code Replicated*MergeTree} tables and
 * {@code Distributed} tables work as on a real cluster. A server can be stopped and started again on
 * its ports and data ({@link #stop}, {@link #start}). {@link #close()} stops everything and deletes the
 * directories. Started by {@code scripts/cluster} too, for users. Thread-safe.
 */
public final class ClickHouseCluster implements AutoCloseable {

  /** The cluster's name in every server's {@code remote_servers}. */
  public static final String NAME = "changepipe_cluster";

  private static final Path ZOOKEEPER_JAR = Path.of("/usr/share/java/zookeeper.jar");

  private final Path zooDir;
  private final ServerProcess zookeeper;
  private final int zooPort;
  private final List<List<DedicatedClickHouse>> servers = new ArrayList<>();
  private boolean closed;

  private ClickHouseCluster(Path zooDir, ServerProcess zookeeper, int zooPort) {
    this.zooDir = zooDir;
    this.zookeeper = zookeeper;
    this.zooPort = zooPort;
  }

  /** Starts ZooKeeper and the servers, and waits until each answers a query. */
  public static ClickHouseCluster start(int shards, int replicas) {
    if (!Files.isRegularFile(ZOOKEEPER_JAR)) {
      throw new ServerStartupException(ZOOKEEPER_JAR + " not found: run scripts/install-servers (Debian's zookeeper"
          + " package)", false);
    }
    List<String> binary = ClickHouseProcess.binary();
    ClickHouseCluster cluster = Commands.retryIfPortTaken(ClickHouseCluster::startZooKeeper);
    try {
      int[][] http = new int[shards][replicas];
      int[][] tcp = new int[shards][replicas];
      int[][] interserver = new int[shards][replicas];
      List<Integer> taken = new ArrayList<>(List.of(cluster.zooPort));
      for (int s = 0; s < shards; s++) {
        for (int r = 0; r < replicas; r++) {
          http[s][r] = port(taken);
          tcp[s][r] = port(taken);
          interserver[s][r] = port(taken);
        }
      }
      StringBuilder remote = new StringBuilder("<" + NAME + ">");
      for (int s = 0; s < shards; s++) {
        remote.append("<shard><internal_replication>true</internal_replication>");
        for (int r = 0; r < replicas; r++) {
          remote.append("<replica><host>").append(Commands.LOOPBACK).append("</host><port>").append(tcp[s][r])
              .append("</port></replica>");
        }
        remote.append("</shard>");
      }
      remote.append("</").append(NAME).append(">");
      for (int s = 0; s < shards; s++) {
        List<DedicatedClickHouse> shard = new ArrayList<>();
        cluster.servers.add(shard);
        for (int r = 0; r < replicas; r++) {
          Path dir = Commands.createTempDir("changepipe-cluster-" + (s + 1) + "-" + (r + 1) + "-", false);
          String extra = """
              <zookeeper><node><host>%1$s</host><port>%2$d</port></node></zookeeper>
              <macros><shard>%3$02d</shard><replica>r%4$d</replica></macros>
              <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
              <interserver_http_port>%5$d</interserver_http_port>
              <interserver_http_host>%1$s</interserver_http_host>
              """.formatted(Commands.LOOPBACK, cluster.zooPort, s + 1, r + 1, interserver[s][r]);
          Path config = ClickHouseProcess.writeConfig(dir, http[s][r], tcp[s][r], remote.toString(), extra);
          List<String> command = new ArrayList<>(binary);
          command.add("--config-file=" + config);
          DedicatedClickHouse server = new DedicatedClickHouse(command, dir, http[s][r], tcp[s][r]);
          shard.add(server);
          server.start();
        }
      }
      cluster.warmUp();
      return cluster;
    } catch (RuntimeException e) {
      cluster.close();
      throw e;
    }
  }

  /**
   * Runs a first {@code ON CLUSTER} statement until it succeeds. 18.16 now and then dies of a null
   * pointer in its distributed DDL path when a node gets its first such statement soon after it started
   * (seen here, though every ZooKeeper session was up); a node that died is started again and the
   * statement repeated. Later statements then run as on any cluster.
   */
  private void warmUp() {
    String ddl = "CREATE DATABASE IF NOT EXISTS changepipe_warmup ON CLUSTER " + NAME;
    IllegalStateException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      for (List<DedicatedClickHouse> shard : servers) {
        for (DedicatedClickHouse server : shard) {
          server.start(); // a node that died in an earlier attempt
          awaitZooKeeper(server);
        }
      }
      try {
        server(1, 1).server().execute(ddl);
        boolean allUp = servers.stream().allMatch(shard -> shard.stream().allMatch(DedicatedClickHouse::isRunning));
        if (allUp) {
          return;
        }
      } catch (IllegalStateException e) {
        last = e;
      }
    }
    throw new ServerStartupException("the cluster's first ON CLUSTER statement kept failing: "
        + (last == null ? "a node died" : last.getMessage()), false);
  }

  private static void awaitZooKeeper(DedicatedClickHouse server) {
    long deadline = System.nanoTime() + Commands.STARTUP_TIMEOUT.toNanos();
    while (true) {
      try {
        // the distributed DDL worker's queue, which each worker makes when it starts
        String queue = server.server().execute(
            "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue' AND name = 'ddl'").trim();
        if (queue.equals("1")) {
          return;
        }
        throw new IllegalStateException("no distributed DDL queue yet");
      } catch (IllegalStateException notYet) {
        if (System.nanoTime() > deadline) {
          throw new ServerStartupException("clickhouse-server at " + server.server().httpUrl()
              + " has no ZooKeeper session: " + notYet.getMessage(), false);
        }
        java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
      }
    }
  }

  private static int port(List<Integer> taken) {
    int port = Commands.freePort();
    while (taken.contains(port)) {
      port = Commands.freePort();
    }
    taken.add(port);
    return port;
  }

  private static ClickHouseCluster startZooKeeper() {
    Path dir = Commands.createTempDir("changepipe-zookeeper-", false);
    int port = Commands.freePort();
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command = List.of(java.toString(), "-Xmx128m", "-Dzookeeper.4lw.commands.whitelist=ruok",
        "-Dzookeeper.admin.enableServer=false", "-cp", ZOOKEEPER_JAR.toString(),
        "org.apache.zookeeper.server.ZooKeeperServerMain", Integer.toString(port), dir.resolve("data").toString());
    ServerProcess process = ServerProcess.start("zookeeper", command, dir, dir.resolve("zookeeper.log"), Map.of(),
        List.of());
    try {
      process.awaitReady(Commands.STARTUP_TIMEOUT, () -> "imok".equals(ask(port, "ruok")));
      return new ClickHouseCluster(dir, process, port);
    } catch (RuntimeException e) {
      process.stop();
      Commands.deleteTree(dir);
      throw e;
    }
  }

  /** ZooKeeper's answer to a four-letter word, or null when it does not answer. */
  private static String ask(int port, String word) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(Commands.LOOPBACK, port), 1000);
      socket.setSoTimeout(1000);
      OutputStream out = socket.getOutputStream();
      out.write(word.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
    } catch (IOException notYet) {
      return null;
    }
  }

  /** The server of shard {@code shard} (1..), replica {@code replica} (1..). */
  public DedicatedClickHouse server(int shard, int replica) {
    return servers.get(shard - 1).get(replica - 1);
  }

  public int shards() {
    return servers.size();
  }

  public int replicas() {
    return servers.get(0).size();
  }

  /** The HTTP URLs of every server, shard by shard. */
  public List<String> httpUrls() {
    List<String> urls = new ArrayList<>();
    servers.forEach(shard -> shard.forEach(s -> urls.add(s.server().httpUrl())));
    return urls;
  }

  /** ZooKeeper's client port. */
  public int zooKeeperPort() {
    return zooPort;
  }

  /** Stops every server, then ZooKeeper, and deletes their directories. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    // all at once: each server takes a few seconds to stop
    List<Thread> stopping = new ArrayList<>();
    servers.forEach(shard -> shard.forEach(server -> stopping.add(new Thread(server::close, "stop-clickhouse"))));
    stopping.forEach(Thread::start);
    for (Thread t : stopping) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    zookeeper.stop();
    Commands.deleteTree(zooDir);
  }
}
