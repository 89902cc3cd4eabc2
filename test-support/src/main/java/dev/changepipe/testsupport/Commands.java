package dev.changepipe.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Small helpers shared by the server starters: commands, ports, directories, binaries, names. */
final class Commands {

  static final String LOOPBACK = "127.0.0.1";
  /** How long a private server may take to become ready. */
  static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(60);
  /** How often a server is started again on new ports after finding one taken. */
  static final int PORT_ATTEMPTS = 5;

  private static final int TAIL_LINES = 40;
  private static final Pattern UNSAFE_NAME = Pattern.compile("[^a-z0-9_]+");

  private Commands() {}

  /**
   * Runs {@code start} until it returns, again only when it failed because a port it chose was
   * taken meanwhile, at most {@link #PORT_ATTEMPTS} times. {@code start} picks fresh ports each time
   * and cleans up after itself before throwing.
   */
  static <T> T retryIfPortTaken(Supplier<T> start) {
    for (int attempt = 1; ; attempt++) {
      try {
        return start.get();
      } catch (ServerStartupException e) {
        if (!e.portInUse() || attempt >= PORT_ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  /** The exit code and the combined stdout/stderr of a finished command. */
  record Result(List<String> command, int exitCode, String output) {
    boolean ok() {
      return exitCode == 0;
    }

    String describe() {
      return "command: " + Commands.describe(command) + "\nexit code: " + exitCode
          + "\noutput:\n" + output;
    }
  }

  /** Runs a command to its end (killing it after {@code timeout}), capturing its output. */
  static Result run(List<String> command, Path workDir, Map<String, String> env, Duration timeout) {
    Path output = null;
    try {
      output = Files.createTempFile("changepipe-cmd-", ".out");
      ProcessBuilder builder = new ProcessBuilder(command)
          .directory(workDir == null ? null : workDir.toFile())
          .redirectErrorStream(true)
          .redirectOutput(output.toFile());
      builder.environment().putAll(env);
      Process process = builder.start();
      process.getOutputStream().close();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        ServerProcess.destroyTree(process.toHandle());
        return new Result(command, -1, "timed out after " + timeout.toSeconds() + " s\n"
            + Files.readString(output, StandardCharsets.UTF_8));
      }
      return new Result(command, process.exitValue(),
          new String(Files.readAllBytes(output), StandardCharsets.UTF_8));
    } catch (IOException e) {
      return new Result(command, -1, "cannot run: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(command, -1, "interrupted");
    } finally {
      if (output != null) {
        try {
          Files.deleteIfExists(output);
        } catch (IOException ignored) {
          // a stray temp file
        }
      }
    }
  }

  /** A command line as one could paste it into a shell. */
  static String describe(List<String> command) {
    return command.stream().map(Commands::shellQuote).collect(Collectors.joining(" "));
  }

  private static String shellQuote(String arg) {
    if (!arg.isEmpty() && arg.chars().allMatch(c -> Character.isLetterOrDigit(c)
        || "-_./=:,@%+".indexOf(c) >= 0)) {
      return arg;
    }
    return "'" + arg.replace("'", "'\\''") + "'";
  }

  /** The last lines of each existing log file, under a header naming it. */
  static String tails(List<Path> logs) {
    StringBuilder out = new StringBuilder();
    for (Path log : logs) {
      if (!Files.isRegularFile(log)) {
        continue;
      }
      try {
        List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8)
            .lines().collect(Collectors.toList());
        out.append("\n--- last lines of ").append(log).append(" ---\n");
        lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size())
            .forEach(line -> out.append(line).append('\n'));
      } catch (IOException e) {
        out.append("\n--- cannot read ").append(log).append(": ").append(e).append('\n');
      }
    }
    return out.toString();
  }

  static boolean mentionsPortInUse(String text) {
    String lower = text.toLowerCase(Locale.ROOT);
    return lower.contains("address already in use") || lower.contains("address in use");
  }

  /** A port on the loopback interface that was free a moment ago. */
  static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on " + LOOPBACK, e);
    }
  }

  /**
   * A fresh directory under the system temporary directory. With {@code traversableByOthers} the
   * directory is placed where every parent can be entered by other users (falling back to /tmp),
   * so that a server running as another user (postgres) can reach it.
   */
  static Path createTempDir(String prefix, boolean traversableByOthers) {
    Path base = Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath();
    if (traversableByOthers && !traversableByOthers(base)) {
      base = Path.of("/tmp");
    }
    try {
      return Files.createTempDirectory(base, prefix);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary directory under " + base, e);
    }
  }

  private static boolean traversableByOthers(Path dir) {
    for (Path p = dir; p != null; p = p.getParent()) {
      try {
        PosixFileAttributeView view = Files.getFileAttributeView(p, PosixFileAttributeView.class);
        if (view == null) {
          return true; // not POSIX: no such thing as another user's access here
        }
        Set<PosixFilePermission> perms = view.readAttributes().permissions();
        if (!perms.contains(PosixFilePermission.OTHERS_EXECUTE)) {
          return false;
        }
      } catch (IOException e) {
        return false;
      }
    }
    return true;
  }

  /** Deletes a directory tree; best effort, a leftover temp directory is not worth a failure. */
  static void deleteTree(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort
        }
      });
    } catch (IOException | UncheckedIOException ignored) {
      // best effort
    }
  }

  /**
   * An executable: the first {@code name} on PATH, then in {@code extraDirs}.
   */
  static Optional<Path> findBinary(String name, String... extraDirs) {
    String path = System.getenv().getOrDefault("PATH", "");
    return Stream.concat(Arrays.stream(path.split(java.io.File.pathSeparator)),
            Arrays.stream(extraDirs))
        .filter(dir -> !dir.isEmpty())
        .map(dir -> Path.of(dir).resolve(name))
        .filter(Files::isExecutable)
        .findFirst();
  }

  /** Whether this JVM runs as root (uid 0). */
  static boolean isRoot() {
    Result id = run(List.of("id", "-u"), null, Map.of(), Duration.ofSeconds(10));
    if (id.ok()) {
      return id.output().trim().equals("0");
    }
    return "root".equals(System.getProperty("user.name"));
  }

  /**
   * A database name that is new and valid on both PostgreSQL and ClickHouse: the prefix reduced to
   * {@code [a-z0-9_]}, then a random suffix (unique across JVMs sharing one server).
   */
  static String uniqueName(String prefix) {
    String base = UNSAFE_NAME.matcher(prefix == null ? "" : prefix.toLowerCase(Locale.ROOT))
        .replaceAll("_");
    if (base.isEmpty() || !Character.isLetter(base.charAt(0))) {
      base = "t_" + base;
    }
    if (base.length() > 40) {
      base = base.substring(0, 40);
    }
    String suffix = UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    return base + "_" + suffix;
  }

  /** Escapes text for an XML element. */
  static String xml(Object value) {
    return String.valueOf(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
