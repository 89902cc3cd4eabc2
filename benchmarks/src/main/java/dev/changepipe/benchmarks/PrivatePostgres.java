package dev.changepipe.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throw-away PostgreSQL server for {@link PostgresSinkRun}: {@code initdb} into a temporary
 * directory (as user {@code postgres} through {@code runuser} when this JVM runs as root, since
 * initdb refuses root), started with {@code pg_ctl} on a free loopback port with {@code fsync=off}
 * and trust authentication, stopped and deleted by {@link #close()}. Uses the highest version under
 * {@code /usr/lib/postgresql}.
 *
 * <p>test-support's {@code PostgresServerExtension} does the same for tests, but is bound to JUnit's
 * extension context; this is the few lines a runner needs.
 */
final class PrivatePostgres implements AutoCloseable {

    private final Path bin;
    private final Path dir;
    private final boolean root;
    private final int port;

    private PrivatePostgres(Path bin, Path dir, boolean root, int port) {
        this.bin = bin;
        this.dir = dir;
        this.root = root;
        this.port = port;
    }

    static PrivatePostgres start() throws IOException, InterruptedException {
        Path bin = binDir();
        boolean root = "root".equals(System.getProperty("user.name"));
        Path dir = Files.createTempDirectory("changepipe-bench-pg-");
        if (root) {
            UserPrincipal postgres = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            Files.setOwner(dir, postgres);
        }
        Path data = dir.resolve("data");
        run(root, dir, List.of(bin.resolve("initdb").toString(), "-D", data.toString(), "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8", "--locale=C"));
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        run(root, dir, List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-w", "-t", "60",
                "-l", dir.resolve("postgres.log").toString(), "-o",
                "-p " + port + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + dir
                        + " -c fsync=off", "start"));
        return new PrivatePostgres(bin, dir, root, port);
    }

    /** {@code r2dbc:postgresql://postgres@127.0.0.1:port/postgres}. */
    String r2dbcUrl() {
        return "r2dbc:postgresql://postgres@127.0.0.1:" + port + "/postgres";
    }

    String version() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(bin.resolve("postgres").toString(), "--version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        p.waitFor();
        return out;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        run(root, dir, List.of(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString(), "-m", "fast",
                "-w", "stop"));
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.delete(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }

    private static Path binDir() throws IOException {
        try (Stream<Path> versions = Files.list(Path.of("/usr/lib/postgresql"))) {
            return versions.filter(v -> v.getFileName().toString().matches("\\d+"))
                    .filter(v -> Files.isExecutable(v.resolve("bin/initdb")))
                    .max(Comparator.comparingInt(v -> Integer.parseInt(v.getFileName().toString())))
                    .map(v -> v.resolve("bin"))
                    .orElseThrow(() -> new IllegalStateException("no PostgreSQL under /usr/lib/postgresql; set "
                            + PostgresSinkRun.URL_ENV + " to use a running server"));
        }
    }

    private static void run(boolean root, Path dir, List<String> tool) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        if (root) {
            command.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        command.addAll(tool);
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] output = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            Path log = dir.resolve("postgres.log");
            String tail = Files.exists(log) ? Files.readString(log) : "";
            throw new IllegalStateException(String.join(" ", command) + " failed:\n" + new String(output) + tail);
        }
    }
}
