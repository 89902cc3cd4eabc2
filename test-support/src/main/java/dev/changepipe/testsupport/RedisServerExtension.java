package dev.changepipe.testsupport;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Hands a test (constructor, lifecycle or test method parameter) a real {@link RedisServer}.
 *
 * <p>Lifecycle: on first use in a JVM, {@code redis-server} is started from the installed binary
 * on a free loopback port, without persistence, in a fresh temporary directory. The one server is
 * shared by every test class of the JVM (it lives in the root extension store) and is stopped, and
 * its directory deleted, when the test plan ends (or, failing that, by a JVM shutdown hook).
 *
 * <p>Environment: if {@value #ENV} is set ({@code redis://host:port}), nothing is started and
 * that server is used.
 *
 * <pre>{@code
 * @ExtendWith(RedisServerExtension.class)
 * class MyIntegrationTest {
 *   @Test void works(RedisServer redis) { RedisClient.create(redis.uri()) ... }
 * }
 * }</pre>
 */
public final class RedisServerExtension implements ParameterResolver {

  /** The variable naming an existing server to use instead of a private one. */
  public static final String ENV = "PIPELINE_TEST_REDIS_URI";

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == RedisServer.class;
  }

  @Override
  public RedisServer resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return server(context);
  }

  /** The server of this JVM, started on first use (for other extensions building on this one). */
  public static RedisServer server(ExtensionContext context) {
    return SharedServer.get(context, RedisServerExtension.class, RedisServerExtension::startOrUse);
  }

  private static SharedServer<RedisServer> startOrUse() {
    String value = System.getenv(ENV);
    if (value != null && !value.isBlank()) {
      URI uri = UriParts.parse(ENV, value, "redis");
      if (uri.getUserInfo() != null) {
        throw new IllegalArgumentException(ENV + ": credentials are not supported: " + value);
      }
      return SharedServer.external(new RedisServer(UriParts.host(uri), UriParts.port(uri, 6379)));
    }
    return start();
  }

  private static SharedServer<RedisServer> start() {
    Path binary = Commands.findBinary("redis-server", "/usr/bin", "/usr/local/bin", "/usr/sbin")
        .orElseThrow(() -> new ServerStartupException("redis-server not found on PATH: run "
            + "scripts/install-servers, or set " + ENV + " to use a running server", false));
    return Commands.retryIfPortTaken(() -> {
      Path dir = Commands.createTempDir("changepipe-redis-", false);
      int port = Commands.freePort();
      List<String> command = List.of(binary.toString(),
          "--port", Integer.toString(port),
          "--bind", Commands.LOOPBACK,
          "--save", "",
          "--appendonly", "no",
          "--daemonize", "no",
          "--dir", dir.toString());
      ServerProcess process = null;
      try {
        process = ServerProcess.start("redis-server", command, dir, dir.resolve("redis.log"),
            Map.of(), List.of());
        process.awaitReady(Commands.STARTUP_TIMEOUT, () -> answersPing(port));
        RedisServer server = new RedisServer(Commands.LOOPBACK, port);
        ServerProcess started = process;
        return SharedServer.owned(server, () -> {
          started.stop();
          Commands.deleteTree(dir);
        }, "redis");
      } catch (RuntimeException e) {
        if (process != null) {
          process.stop();
        }
        Commands.deleteTree(dir);
        throw e;
      }
    });
  }

  private static boolean answersPing(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(Commands.LOOPBACK, port), 500);
      socket.setSoTimeout(1000);
      OutputStream out = socket.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      BufferedReader in = new BufferedReader(
          new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
      return "+PONG".equals(in.readLine());
    } catch (IOException notYet) {
      return false;
    }
  }
}
