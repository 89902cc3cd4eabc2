package dev.changepipe.service;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A private ClickHouse for the demo, started from the installed server (installing Debian's
 * {@code clickhouse-server} first when it is missing and this process may) with a minimal
 * configuration in a temporary directory: HTTP and native ports free on 127.0.0.1, a passwordless
 * {@code default} user limited to loopback, data and logs in that directory. The same approach as
 * test-support's {@code ClickHouseServerExtension}, in main code. Not thread-safe.
 */
final class LocalClickHouse implements AutoCloseable {

    private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(60);
    private static final String[] DIRS = {"/usr/sbin", "/usr/bin", "/usr/local/bin"};

    private final Path dir;
    private final int httpPort;
    private final int tcpPort;
    private final Process process;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private LocalClickHouse(Path dir, int httpPort, int tcpPort, Process process) {
        this.dir = dir;
        this.httpPort = httpPort;
        this.tcpPort = tcpPort;
        this.process = process;
    }

    String httpUrl() {
        return "http://127.0.0.1:" + httpPort;
    }

    int tcpPort() {
        return tcpPort;
    }

    long pid() {
        return process.pid();
    }

    Path directory() {
        return dir;
    }

    /** Starts a server and waits until it answers a query. */
    static LocalClickHouse start(PrintWriter out) throws IOException, InterruptedException {
        List<String> binary = binary(out);
        for (int attempt = 1; ; attempt++) {
            Path dir = Files.createTempDirectory("changepipe-demo-clickhouse-");
            int http = freePort();
            int tcp = freePort();
            while (tcp == http) {
                tcp = freePort();
            }
            Path config = writeConfig(dir, http, tcp);
            List<String> command = new ArrayList<>(binary);
            command.add("--config-file=" + config);
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("console.log").toFile());
            pb.environment().put("CLICKHOUSE_WATCHDOG_ENABLE", "0");
            LocalClickHouse server = new LocalClickHouse(dir, http, tcp, pb.start());
            if (server.awaitReady()) {
                return server;
            }
            String log = server.logTail();
            server.close();
            if (attempt >= 3 || !log.contains("Address already in use")) {
                throw new IllegalStateException("clickhouse-server did not start: " + String.join(" ", command)
                        + "\n" + log);
            }
        }
    }

    private boolean awaitReady() throws InterruptedException {
        long deadline = System.nanoTime() + STARTUP_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                return false;
            }
            try {
                if (query("SELECT 1").trim().equals("1")) {
                    return true;
                }
            } catch (IOException | IllegalStateException notYet) {
                // not listening yet
            }
            Thread.sleep(50);
        }
        return false;
    }

    /** Runs one statement over HTTP and returns the body; fails on an error answer. */
    String query(String sql) throws IOException, InterruptedException {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(httpUrl() + "/"))
                .timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString(sql, StandardCharsets.UTF_8)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (r.statusCode() != 200) {
            throw new IllegalStateException("ClickHouse answered " + r.statusCode() + ": " + r.body().trim());
        }
        return r.body();
    }

    private String logTail() {
        StringBuilder b = new StringBuilder();
        for (String name : List.of("console.log", "server.err.log")) {
            try {
                List<String> lines = Files.readAllLines(dir.resolve(name));
                lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(l -> b.append(l).append('\n'));
            } catch (IOException missing) {
                b.append("(no ").append(name).append(")\n");
            }
        }
        return b.toString();
    }

    /** Stops the server and deletes its directory. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
        deleteTree(dir);
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new IllegalStateException("cannot delete " + root + ": " + e.getMessage(), e);
        }
    }

    /** The server binary; installs Debian's package when it is missing and this process may. */
    private static List<String> binary(PrintWriter out) throws IOException, InterruptedException {
        List<String> found = find();
        if (found != null) {
            return found;
        }
        boolean root = "root".equals(System.getProperty("user.name"));
        boolean apt = Files.isExecutable(Path.of("/usr/bin/apt-get"));
        boolean sudo = !root && Files.isExecutable(Path.of("/usr/bin/sudo"))
                && new ProcessBuilder("sudo", "-n", "true").start().waitFor() == 0;
        if (!apt || (!root && !sudo)) {
            throw new IllegalStateException("clickhouse-server is not installed; install it (Debian/Ubuntu: "
                    + "sudo apt-get install clickhouse-server) and run the demo again");
        }
        out.println("Installing clickhouse-server with apt-get (it is missing)...");
        out.flush();
        List<String> prefix = root ? List.of() : List.of("sudo", "-n");
        run(prefix, "apt-get", "update", "-qq");
        run(prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "clickhouse-server", "clickhouse-client");
        found = find();
        if (found == null) {
            throw new IllegalStateException("clickhouse-server is still missing after apt-get install");
        }
        return found;
    }

    private static void run(List<String> prefix, String... command) throws IOException, InterruptedException {
        List<String> full = new ArrayList<>(prefix);
        full.addAll(List.of(command));
        ProcessBuilder pb = new ProcessBuilder(full).inheritIO();
        pb.environment().put("DEBIAN_FRONTEND", "noninteractive");
        int rc = pb.start().waitFor();
        if (rc != 0) {
            throw new IllegalStateException(String.join(" ", full) + " failed with exit code " + rc);
        }
    }

    private static List<String> find() {
        for (String d : DIRS) {
            Path p = Path.of(d, "clickhouse-server");
            if (Files.isExecutable(p)) {
                return List.of(p.toString());
            }
        }
        for (String d : DIRS) {
            Path p = Path.of(d, "clickhouse");
            if (Files.isExecutable(p)) {
                return List.of(p.toString(), "server");
            }
        }
        return null;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static Path writeConfig(Path dir, int http, int tcp) throws IOException {
        String d = dir.toString().replace("&", "&amp;").replace("<", "&lt;");
        Files.writeString(dir.resolve("config.xml"), """
                <?xml version="1.0"?>
                <yandex>
                  <logger><level>warning</level><log>%1$s/server.log</log><errorlog>%1$s/server.err.log</errorlog>
                    <size>100M</size><count>1</count></logger>
                  <http_port>%2$d</http_port>
                  <tcp_port>%3$d</tcp_port>
                  <listen_host>127.0.0.1</listen_host>
                  <path>%1$s/data/</path>
                  <tmp_path>%1$s/tmp/</tmp_path>
                  <user_files_path>%1$s/user_files/</user_files_path>
                  <format_schema_path>%1$s/format_schemas/</format_schema_path>
                  <mark_cache_size>1073741824</mark_cache_size>
                  <users_config>%1$s/users.xml</users_config>
                  <default_profile>default</default_profile>
                  <default_database>default</default_database>
                </yandex>
                """.formatted(d, http, tcp), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("users.xml"), """
                <?xml version="1.0"?>
                <yandex>
                  <profiles><default/></profiles>
                  <users><default><password></password>
                    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
                    <profile>default</profile><quota>default</quota></default></users>
                  <quotas><default/></quotas>
                </yandex>
                """, StandardCharsets.UTF_8);
        return dir.resolve("config.xml");
    }
}
