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
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A private {@code clickhouse-server} process from the installed binary: its configuration, its start
 * and its readiness. Free of JUnit, so that {@link ClusterMain} runs it outside of tests too.
 */
final class ClickHouseProcess {

  private ClickHouseProcess() {
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
            + "scripts/install-servers, or set " + ClickHouseServerExtension.ENV + " to use a running server", false));
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

  static Path writeConfig(Path dir, int httpPort, int tcpPort, String localCluster) {
    String local = "<" + localCluster + "><shard><replica><host>" + Commands.LOOPBACK + "</host><port>" + tcpPort
        + "</port></replica></shard></" + localCluster + ">";
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
