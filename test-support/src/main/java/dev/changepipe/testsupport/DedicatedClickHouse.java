package dev.changepipe.testsupport;

import java.nio.file.Path;
import java.util.List;

/**
 * A private ClickHouse owned by one test, from
 * {@link ClickHouseServerExtension#startDedicated()}: it can be stopped and started again on the
 * same ports and data directory (what was written survives), for tests of a server going away
 * mid-stream. Not shared and not registered with JUnit: close it (try-with-resources). Thread-safe.
 */
public final class DedicatedClickHouse implements AutoCloseable {

  private final List<String> command;
  private final Path dir;
  private final ClickHouseServer server;
  private final int tcpPort;
  private ServerProcess process;
  private boolean closed;
  /** Killed since its last start: the next start restores its replicated tables as after a crash. */
  private boolean crashed;

  DedicatedClickHouse(List<String> command, Path dir, int httpPort, int tcpPort) {
    this.command = List.copyOf(command);
    this.dir = dir;
    this.server = new ClickHouseServer(Commands.LOOPBACK, httpPort);
    this.tcpPort = tcpPort;
  }

  /** The server's HTTP side, as for the shared server (valid across restarts). */
  public ClickHouseServer server() {
    return server;
  }

  /** The native protocol port, for {@code clickhouse-client --port}. */
  public int tcpPort() {
    return tcpPort;
  }

  /** Whether the server process is running. */
  public synchronized boolean isRunning() {
    return process != null && process.handleAndDescendants().get(0).isAlive();
  }

  /**
   * Starts the server if it is not running and waits until it answers a query; throws
   * {@link ServerStartupException} (with the end of its log) if it does not.
   */
  public synchronized void start() {
    if (closed) {
      throw new IllegalStateException("this dedicated ClickHouse is closed");
    }
    if (isRunning()) {
      return;
    }
    if (crashed) {
      // what an operator does after a crash: a replicated table whose last part the server wrote but did
      // not register in ZooKeeper is otherwise refused at start ("doesn't look like the set of parts in
      // ZooKeeper"), and the server exits; with the flag it sets such parts aside and fetches what it lacks
      try {
        java.nio.file.Files.createDirectories(dir.resolve("data/flags"));
        java.nio.file.Files.writeString(dir.resolve("data/flags/force_restore_data"), "");
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      crashed = false;
    }
    process = ClickHouseProcess.launch(command, dir, server);
  }

  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and waits for it to exit. */
  public synchronized void stop() {
    if (process != null) {
      process.stop();
      process = null;
    }
  }

  /**
   * Kills the server (SIGKILL: a crash, nothing flushed) and waits for it to exit; the next
   * {@link #start} sets ClickHouse's {@code force_restore_data} flag first, as an operator does after a
   * crash.
   */
  public synchronized void kill() {
    if (process != null) {
      process.kill();
      process = null;
      crashed = true;
    }
  }

  /** Stops the server and deletes its directory. Idempotent. */
  @Override
  public synchronized void close() {
    stop();
    if (!closed) {
      closed = true;
      Commands.deleteTree(dir);
    }
  }
}
