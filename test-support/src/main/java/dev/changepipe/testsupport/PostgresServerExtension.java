package dev.changepipe.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Hands a test (constructor, lifecycle or test method parameter) a real {@link PostgresServer}.
 *
 * <p>Lifecycle: on first use in a JVM, a cluster is created with {@code initdb} (the highest
 * version under {@code /usr/lib/postgresql/}, else the one on PATH) in a fresh temporary directory
 * and started with {@code pg_ctl} on a free loopback port, with {@code wal_level=logical},
 * replication slots and senders, trust authentication for user {@code postgres} and durability
 * switched off for speed. When this JVM runs as root, the directory is given to user
 * {@code postgres} and the tools run through {@code runuser -u postgres}. The one server is shared
 * by every test class of the JVM (it lives in the root extension store) and is stopped
 * ({@code pg_ctl -m immediate stop}), and its directory deleted, when the test plan ends (or,
 * failing that, by a JVM shutdown hook).
 *
 * <p>Environment: if {@value #ENV} is set ({@code postgresql://user[:password]@host:port/database}),
 * nothing is started and that server is used; replication tests need {@code wal_level=logical}
 * there.
 */
public final class PostgresServerExtension implements ParameterResolver {

  /** The variable naming an existing server to use instead of a private one. */
  public static final String ENV = "PIPELINE_TEST_POSTGRES_URI";

  private static final String PG_USER = "postgres";
  private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(120);
  private static final Pattern VERSION_DIR = Pattern.compile("(\\d+)(?:\\.(\\d+))?");

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == PostgresServer.class;
  }

  @Override
  public PostgresServer resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return server(context);
  }

  /** The server of this JVM, started on first use (for other extensions building on this one). */
  public static PostgresServer server(ExtensionContext context) {
    return SharedServer.get(context, PostgresServerExtension.class,
        PostgresServerExtension::startOrUse);
  }

  private static SharedServer<PostgresServer> startOrUse() {
    String value = System.getenv(ENV);
    if (value != null && !value.isBlank()) {
      return SharedServer.external(parse(value));
    }
    return start();
  }

  static PostgresServer parse(String value) {
    URI uri = UriParts.parse(ENV, value, "postgresql", "postgres");
    String user = PG_USER;
    String password = null;
    String userInfo = uri.getRawUserInfo();
    if (userInfo != null && !userInfo.isEmpty()) {
      int colon = userInfo.indexOf(':');
      user = decode(colon < 0 ? userInfo : userInfo.substring(0, colon));
      password = colon < 0 ? null : decode(userInfo.substring(colon + 1));
    }
    String path = uri.getRawPath();
    String database = path == null || path.length() <= 1 ? PG_USER : decode(path.substring(1));
    return new PostgresServer(UriParts.host(uri), UriParts.port(uri, 5432), user, password,
        database);
  }

  private static String decode(String s) {
    return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
  }

  /** {@code psql} of the installed server version, else the one on PATH. */
  static Path psql() {
    return binDir().map(dir -> dir.resolve("psql")).filter(Files::isExecutable)
        .or(() -> Commands.findBinary("psql"))
        .orElseThrow(() -> new IllegalStateException("psql not found under /usr/lib/postgresql "
            + "or on PATH: run scripts/install-servers"));
  }

  /** The bin directory of the highest PostgreSQL under /usr/lib/postgresql, else that of initdb. */
  private static Optional<Path> binDir() {
    Path root = Path.of("/usr/lib/postgresql");
    if (Files.isDirectory(root)) {
      try (Stream<Path> versions = Files.list(root)) {
        Optional<Path> highest = versions
            .filter(v -> VERSION_DIR.matcher(v.getFileName().toString()).matches())
            .filter(v -> Files.isExecutable(v.resolve("bin/initdb")))
            .max(Comparator.comparingLong(PostgresServerExtension::versionKey))
            .map(v -> v.resolve("bin"));
        if (highest.isPresent()) {
          return highest;
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return Commands.findBinary("initdb").map(Path::getParent);
  }

  private static long versionKey(Path versionDir) {
    Matcher m = VERSION_DIR.matcher(versionDir.getFileName().toString());
    m.matches();
    long minor = m.group(2) == null ? 0 : Long.parseLong(m.group(2));
    return Long.parseLong(m.group(1)) * 1000 + minor;
  }

  private static SharedServer<PostgresServer> start() {
    Path bin = binDir().orElseThrow(() -> new ServerStartupException("PostgreSQL (initdb) not "
        + "found under /usr/lib/postgresql or on PATH: run scripts/install-servers, or set " + ENV
        + " to use a running server", false));
    boolean root = Commands.isRoot();
    Path dir = Commands.createTempDir("changepipe-postgres-", root);
    Path data = dir.resolve("data");
    Path log = dir.resolve("postgres.log");
    try {
      if (root) {
        giveToPostgres(dir);
      }
      run(root, dir, List.of(bin.resolve("initdb").toString(), "-D", data.toString(),
          "-A", "trust", "-U", PG_USER, "--no-sync", "-E", "UTF8", "--locale=C"), "initdb", log);
      return Commands.retryIfPortTaken(() -> {
        int port = Commands.freePort();
        String options = "-p " + port
            + " -c listen_addresses=" + Commands.LOOPBACK
            + " -c unix_socket_directories=" + dir
            + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            + " -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10"
            + " -c max_connections=200";
        try {
          Files.deleteIfExists(log); // so that its tail tells about this attempt only
          run(root, dir, List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-w",
              "-t", Long.toString(Commands.STARTUP_TIMEOUT.toSeconds()), "-o", options,
              "-l", log.toString(), "start"), "pg_ctl start", log);
          PostgresServer server = new PostgresServer(Commands.LOOPBACK, port, PG_USER, null,
              PG_USER);
          return SharedServer.owned(server, () -> {
            stopServer(root, bin, dir);
            Commands.deleteTree(dir);
          }, "postgres");
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        } catch (ServerStartupException e) {
          stopServer(root, bin, dir); // in case it is half up; the cluster is kept for the retry
          throw e;
        }
      });
    } catch (RuntimeException e) {
      stopServer(root, bin, dir);
      Commands.deleteTree(dir);
      throw e;
    }
  }

  private static void giveToPostgres(Path dir) {
    try {
      UserPrincipal postgres = dir.getFileSystem().getUserPrincipalLookupService()
          .lookupPrincipalByName(PG_USER);
      Files.setOwner(dir, postgres);
    } catch (IOException e) {
      throw new ServerStartupException("running as root, but cannot give " + dir + " to user "
          + PG_USER + " (initdb refuses root): " + e, e);
    }
  }

  /** Runs a PostgreSQL tool, as user postgres when this JVM is root. */
  private static void run(boolean root, Path dir, List<String> tool, String what, Path log) {
    List<String> command = asPostgres(root, tool);
    Commands.Result result = Commands.run(command, dir, Map.of(), TOOL_TIMEOUT);
    if (!result.ok()) {
      String tails = Commands.tails(List.of(log));
      throw new ServerStartupException(what + " failed\n" + result.describe() + tails,
          Commands.mentionsPortInUse(tails));
    }
  }

  private static List<String> asPostgres(boolean root, List<String> tool) {
    if (!root) {
      return tool;
    }
    Path runuser = Commands.findBinary("runuser", "/usr/sbin", "/sbin", "/usr/bin", "/bin")
        .orElseThrow(() -> new ServerStartupException("running as root and runuser not found: "
            + "initdb refuses root", false));
    List<String> command = new ArrayList<>(List.of(runuser.toString(), "-u", PG_USER, "--"));
    command.addAll(tool);
    return command;
  }

  /** Stops the server of {@code dir} if it runs, killing it if pg_ctl cannot. */
  private static void stopServer(boolean root, Path bin, Path dir) {
    Path data = dir.resolve("data");
    Optional<ProcessHandle> postmaster = postmaster(data);
    if (postmaster.isPresent()) {
      Commands.run(asPostgres(root, List.of(bin.resolve("pg_ctl").toString(), "-D",
          data.toString(), "-m", "immediate", "-w", "-t", "30", "stop")), dir, Map.of(),
          TOOL_TIMEOUT);
      postmaster.filter(ProcessHandle::isAlive).ifPresent(ServerProcess::destroyTree);
    }
  }

  /** The running postmaster of a data directory, from the first line of postmaster.pid. */
  private static Optional<ProcessHandle> postmaster(Path data) {
    try {
      List<String> lines = Files.readAllLines(data.resolve("postmaster.pid"));
      return lines.isEmpty() ? Optional.empty()
          : ProcessHandle.of(Long.parseLong(lines.get(0).trim()))
              // a stale pid file may name a pid reused by something else
              .filter(p -> p.info().command().map(c -> c.contains("postgres")).orElse(true));
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }
}
