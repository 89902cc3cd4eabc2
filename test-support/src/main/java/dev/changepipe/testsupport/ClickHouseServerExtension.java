package dev.changepipe.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
    List<String> binary = binary();
    return Commands.retryIfPortTaken(() -> {
      Path dir = Commands.createTempDir("changepipe-clickhouse-dedicated-", false);
      int httpPort = Commands.freePort();
      int tcpPort = Commands.freePort();
      while (tcpPort == httpPort) {
        tcpPort = Commands.freePort();
      }
      Path config = writeConfig(dir, httpPort, tcpPort);
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

  /** Starts {@code command} in {@code dir} and waits until it answers a query. */
  static ServerProcess launch(List<String> command, Path dir, ClickHouseServer server) {
    ServerProcess process = ServerProcess.start("clickhouse-server", command, dir,
        dir.resolve("console.log"),
        // newer releases would otherwise fork a watchdog parent
        Map.of("CLICKHOUSE_WATCHDOG_ENABLE", "0"),
        List.of(dir.resolve("server.err.log"), dir.resolve("server.log")));
    try {
      process.awaitReady(Commands.STARTUP_TIMEOUT, () -> answersPing(server));
      String one;
      try {
        one = server.execute("SELECT 1").trim();
      } catch (IllegalStateException e) {
        throw process.failure("clickhouse-server answers /ping but not a query: " + e.getMessage());
      }
      if (!one.equals("1")) {
        throw process.failure("clickhouse-server answered '" + one + "' to SELECT 1");
      }
      return process;
    } catch (RuntimeException e) {
      process.stop();
      throw e;
    }
  }

  /** {@code clickhouse-server}, else the single {@code clickhouse} binary with {@code server}. */
  static List<String> binary() {
    String[] dirs = {"/usr/sbin", "/usr/bin", "/usr/local/bin"};
    Optional<Path> server = Commands.findBinary("clickhouse-server", dirs);
    if (server.isPresent()) {
      return List.of(server.get().toString());
    }
    return Commands.findBinary("clickhouse", dirs)
        .map(p -> List.of(p.toString(), "server"))
        .orElseThrow(() -> new ServerStartupException("clickhouse-server not found on PATH: run "
            + "scripts/install-servers, or set " + ENV + " to use a running server", false));
  }

  private static SharedServer<ClickHouseServer> start() {
    List<String> binary = binary();
    return Commands.retryIfPortTaken(() -> {
      Path dir = Commands.createTempDir("changepipe-clickhouse-", false);
      int httpPort = Commands.freePort();
      int tcpPort = Commands.freePort();
      while (tcpPort == httpPort) {
        tcpPort = Commands.freePort();
      }
      ServerProcess process = null;
      try {
        Path config = writeConfig(dir, httpPort, tcpPort);
        List<String> command = new ArrayList<>(binary);
        command.add("--config-file=" + config);
        ClickHouseServer server = new ClickHouseServer(Commands.LOOPBACK, httpPort);
        process = launch(command, dir, server);
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

  private static boolean answersPing(ClickHouseServer server) {
    HttpRequest request = HttpRequest.newBuilder(URI.create(server.httpUrl() + "/ping"))
        .timeout(Duration.ofSeconds(2))
        .GET()
        .build();
    try {
      HttpResponse<String> response = ClickHouseServer.Http.CLIENT.send(request,
          HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      return response.statusCode() == 200 && response.body().trim().equals("Ok.");
    } catch (IOException notYet) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ServerStartupException("interrupted while waiting for clickhouse-server", e);
    }
  }

  private static Path writeConfig(Path dir, int httpPort, int tcpPort) {
    String local = "<" + LOCAL_CLUSTER + "><shard><replica><host>" + Commands.LOOPBACK + "</host><port>" + tcpPort
        + "</port></replica></shard></" + LOCAL_CLUSTER + ">";
    return writeConfig(dir, httpPort, tcpPort, local, "");
  }

  /**
   * The config of a private server: its ports, its directory, {@code remoteServers} (the body of
   * {@code <remote_servers>}) and {@code extra} elements (ZooKeeper, macros, ...).
   */
  static Path writeConfig(Path dir, int httpPort, int tcpPort, String remoteServers, String extra) {
    String d = dir.toString();
    String config = """
        <?xml version="1.0"?>
        <yandex>
          <logger>
            <level>warning</level>
            <log>%1$s/server.log</log>
            <errorlog>%1$s/server.err.log</errorlog>
            <size>100M</size>
            <count>1</count>
          </logger>
          <http_port>%2$d</http_port>
          <!-- longer than the tests' pauses: the JDK client reuses a connection the server closed (3 s by default) -->
          <keep_alive_timeout>600</keep_alive_timeout>
          <tcp_port>%3$d</tcp_port>
          <listen_host>%4$s</listen_host>
          <path>%1$s/data/</path>
          <tmp_path>%1$s/tmp/</tmp_path>
          <user_files_path>%1$s/user_files/</user_files_path>
          <format_schema_path>%1$s/format_schemas/</format_schema_path>
          <mark_cache_size>5368709120</mark_cache_size>
          <users_config>%1$s/users.xml</users_config>
          <default_profile>default</default_profile>
          <default_database>default</default_database>
          <remote_servers>
            %5$s
          </remote_servers>
          %6$s
        </yandex>
        """.formatted(Commands.xml(d), httpPort, tcpPort, Commands.LOOPBACK, remoteServers, extra);
    String users = """
        <?xml version="1.0"?>
        <yandex>
          <profiles>
            <default/>
          </profiles>
          <users>
            <default>
              <password></password>
              <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
              </networks>
              <profile>default</profile>
              <quota>default</quota>
            </default>
          </users>
          <quotas>
            <default/>
          </quotas>
        </yandex>
        """;
    try {
      Path configFile = dir.resolve("config.xml");
      Files.writeString(configFile, config, StandardCharsets.UTF_8);
      Files.writeString(dir.resolve("users.xml"), users, StandardCharsets.UTF_8);
      return configFile;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the clickhouse-server config in " + dir, e);
    }
  }
}
