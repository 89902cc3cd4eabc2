package dev.changepipe.testsupport;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Hands a test (constructor, lifecycle or test method parameter) a real {@link ClickHouseServer}.
 *
 * <p>Lifecycle: on first use in a JVM, {@code clickhouse-server} (or {@code clickhouse server}) is
 * started from the installed binary with a minimal configuration written into a fresh temporary
 * directory: HTTP and native ports free on the loopback interface, data and logs in that directory,
 * a passwordless {@code default} user limited to loopback, and a cluster {@value #LOCAL_CLUSTER} of
 * one shard, the server itself (for {@code Distributed} tables). The one server is shared by every test
 * class of the JVM (it lives in the root extension store) and is stopped, and its directory
 * deleted, when the test plan ends (or, failing that, by a JVM shutdown hook).
 *
 * <p>Environment: if {@value #ENV} is set ({@code http://host:port}), nothing is started and that
 * server is used.
 */
public final class ClickHouseServerExtension implements ParameterResolver {

  /**
   * A cluster of the private servers: one shard, the server itself (a server named by {@value #ENV}
   * may lack it).
   */
  public static final String LOCAL_CLUSTER = "changepipe_local";

  /** The variable naming an existing server to use instead of a private one. */
  public static final String ENV = "PIPELINE_TEST_CLICKHOUSE_URI";

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == ClickHouseServer.class;
  }

  @Override
  public ClickHouseServer resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return server(context);
  }

  /** The server of this JVM, started on first use (for other extensions building on this one). */
  public static ClickHouseServer server(ExtensionContext context) {
    return SharedServer.get(context, ClickHouseServerExtension.class,
        ClickHouseServerExtension::startOrUse);
  }

  private static SharedServer<ClickHouseServer> startOrUse() {
    String value = System.getenv(ENV);
    if (value != null && !value.isBlank()) {
      URI uri = UriParts.parse(ENV, value, "http");
      if (uri.getUserInfo() != null) {
        throw new IllegalArgumentException(ENV + ": credentials are not supported: " + value);
      }
      return SharedServer.external(
          new ClickHouseServer(UriParts.host(uri), UriParts.port(uri, 8123)));
    }
    return start();
  }

  /**
   * Starts a private ClickHouse that belongs to the caller alone, for tests that stop and start a
   * server (a restart mid-stream) or need its native TCP port (clickhouse-client). Unlike the shared
   * server it is never handed to other tests; the returned handle stops and starts it again on the
   * same ports and data directory, and {@link DedicatedClickHouse#close()} stops it and deletes its
   * directory. Needs the installed binary (ignores {@value #ENV}). Blocks until it answers.
   */
  public static DedicatedClickHouse startDedicated() {
    List<String> binary = ClickHouseProcess.binary();
    return Commands.retryIfPortTaken(() -> {
      Path dir = Commands.createTempDir("changepipe-clickhouse-dedicated-", false);
      int httpPort = Commands.freePort();
      int tcpPort = Commands.freePort();
      while (tcpPort == httpPort) {
        tcpPort = Commands.freePort();
      }
      Path config = ClickHouseProcess.writeConfig(dir, httpPort, tcpPort, LOCAL_CLUSTER);
      List<String> command = new ArrayList<>(binary);
      command.add("--config-file=" + config);
      DedicatedClickHouse server = new DedicatedClickHouse(command, dir, httpPort, tcpPort);
      try {
        server.start();
        return server;
      } catch (RuntimeException e) {
        server.close();
        throw e;
      }
    });
  }

  private static SharedServer<ClickHouseServer> start() {
    List<String> binary = ClickHouseProcess.binary();
    return Commands.retryIfPortTaken(() -> {
      Path dir = Commands.createTempDir("changepipe-clickhouse-", false);
      int httpPort = Commands.freePort();
      int tcpPort = Commands.freePort();
      while (tcpPort == httpPort) {
        tcpPort = Commands.freePort();
      }
      ServerProcess process = null;
      try {
        Path config = ClickHouseProcess.writeConfig(dir, httpPort, tcpPort, LOCAL_CLUSTER);
        List<String> command = new ArrayList<>(binary);
        command.add("--config-file=" + config);
        ClickHouseServer server = new ClickHouseServer(Commands.LOOPBACK, httpPort);
        process = ClickHouseProcess.launch(command, dir, server);
        ServerProcess started = process;
        return SharedServer.owned(server, () -> {
          started.stop();
          Commands.deleteTree(dir);
        }, "clickhouse");
      } catch (RuntimeException e) {
        if (process != null) {
          process.stop();
        }
        Commands.deleteTree(dir);
        throw e;
      }
    });
  }

}
