package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code registration-http} and {@code registration-direct}: how fast an application registers
 * operations while nothing is synced, and while the service's sync drains a backlog (issue 19: the
 * sync must never slow the application down; its must-hold: p99.9 with a sync at most 3× the idle one).
 *
 * <p>Eight clients (threads), each with one connection that it keeps open and one request at a time,
 * register one pk per call, as fast as they are answered, for a window of {@code --rows / 400,000}
 * seconds (1 to 5). {@code registration-http}: {@code POST /api/operations} of the service, on a
 * keep-alive connection, each answer read before the next request (a 200 is required).
 * {@code registration-direct}: what django-clickhouse's {@code register_operations} sends,
 * {@code ZADD <prefix>:operations:<import key> <now> update:default.<pk>} on a blocking socket, as
 * redis-py does, straight to Redis. Each is measured twice: <em>idle</em>, while the service runs but
 * its sync has nothing to do (another worker's lock on the backlog's import key, as django-clickhouse's,
 * holds it back), and <em>sync</em>, once that lock is gone and the service's storage-sync source drains
 * the backlog ({@code --rows} operations for rows of a PostgreSQL table) into ClickHouse. The service's
 * JIT is warmed first (20 s of HTTP registrations, one window of ZADDs). Checks: every HTTP answer a
 * 200, Redis holding exactly the pks registered by each path, the backlog still not drained at the end
 * of the sync windows (else the sync was not running throughout: use more {@code --rows}), and the
 * service exiting 0 on SIGTERM.
 */
final class RegistrationScenario {

    static final String HTTP = "registration-http";
    static final String DIRECT = "registration-direct";
    static final int CLIENTS = 8;
    private static final String TOKEN = "bench-registration-token-0123456789";
    private static final String PREFIX = "bench_registration";
    /** Synced by the service: the backlog. */
    private static final String BACKLOG_KEY = StorageSyncScenario.IMPORT_KEY;
    /** Registered over HTTP; never synced (its lock stays held), so Redis holds every pk registered. */
    private static final String HTTP_KEY = "app.hits";
    /** Registered with ZADD; not in the service's configuration. */
    private static final String DIRECT_KEY = "app.direct";

    private static final int WARM_UP_SECONDS = 20;
    /** The storage-sync source's default batch size. */
    private static final int BATCH = 10_000;

    private final EndToEndRun run;
    private final int backlog;
    private final int windowSeconds;

    RegistrationScenario(EndToEndRun run, int rows) {
        this.run = run;
        this.backlog = rows;
        this.windowSeconds = Math.max(1, Math.min(5, rows / 400_000));
    }

    /** One client: a connection, one call at a time. */
    private interface Client extends AutoCloseable {
        /** Registers {@code pk}; returns once it was answered, throws when it failed. */
        void register(long pk) throws IOException;

        @Override
        void close() throws IOException;
    }

    /** What one window measured. */
    private record Window(long calls, double seconds, long[] sortedNanos, double serviceCpuSeconds) {

        double rate() {
            return calls / seconds;
        }

        double percentileMs(double q) {
            if (sortedNanos.length == 0) {
                return -1;
            }
            return sortedNanos[(int) Math.min(sortedNanos.length - 1, Math.floor(sortedNanos.length * q))] / 1e6;
        }

        String fields(String phase) {
            return "rps_" + phase + "=" + EndToEndRun.fmt(rate(), 0)
                    + " p50_" + phase + "_ms=" + EndToEndRun.fmt(percentileMs(0.50), 3)
                    + " p99_" + phase + "_ms=" + EndToEndRun.fmt(percentileMs(0.99), 3)
                    + " p999_" + phase + "_ms=" + EndToEndRun.fmt(percentileMs(0.999), 3)
                    + " max_" + phase + "_ms=" + EndToEndRun.fmt(percentileMs(1.0), 3);
        }
    }

    void run(boolean http, boolean direct) throws Exception {
        String name = http ? HTTP : DIRECT;
        RedisServer redis = BenchServers.redis();
        PostgresServer pg = BenchServers.postgres();
        ClickHouseServer ch = run.clickHouse().server();
        String db = pg.createDatabase("bench_registration");
        pg.execute(db, "CREATE TABLE app_model (id bigint PRIMARY KEY, name text NOT NULL, counter bigint NOT NULL, "
                + "amount numeric(12,2), updated timestamp NOT NULL)");
        pg.execute(db, "INSERT INTO app_model SELECT g, 'name ' || g, g % 1000, (g % 100000) / 100.0, "
                + "timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, " + backlog + ") g");
        pg.execute(db, "VACUUM ANALYZE app_model");
        ch.execute("CREATE DATABASE IF NOT EXISTS bench");
        Path dir = run.directory("registration");
        try (RedisClient client = RedisClient.create(redis.uri());
                StatefulRedisConnection<String, String> connection = client.connect()) {
            RedisCommands<String, String> r = connection.sync();
            // Another worker's locks, as django-clickhouse's: the service's sync leaves both queues alone.
            SetArgs hour = SetArgs.Builder.px(3_600_000);
            r.set(PREFIX + ":lock:" + BACKLOG_KEY, "another-worker", hour);
            r.set(PREFIX + ":lock:" + HTTP_KEY, "another-worker", hour);
            StorageSyncBenchmark.queueOperations(connection, PREFIX, backlog, 10_000);
            String head = EndToEndRun.configHead(dir).replaceFirst("http:\n", "http:\n  token: " + TOKEN + "\n");
            String yaml = head + EndToEndRun.storageSyncConnections(ch.httpUrl(), redis.uri(), pg.r2dbcUrl(db)) + """
                    pipelines:
                      - name: sync
                        source:
                          type: storage-sync
                          connection: ops
                          keyPrefix: %s
                          importKeys:
                            %s: {delay: 1s}
                            %s: {delay: 1h}
                          databases:
                            default: app
                        sinks:
                          - type: clickhouse
                            connection: bench
                            tables:
                              %s:
                                target: app_model_registration
                                create: %s
                    """.formatted(PREFIX, BACKLOG_KEY, HTTP_KEY, BACKLOG_KEY, EndToEndRun.APP_MODEL_CREATE);
            Path config = dir.resolve("service.yaml");
            Files.writeString(config, yaml, StandardCharsets.UTF_8);
            ServiceProcess service = ServiceProcess.start(run.root, dir, config, run.javaOpts);
            try {
                measure(name, http, direct, service, dir, redis, r);
            } finally {
                if (service.isAlive()) {
                    service.terminate();
                    service.await(Duration.ofSeconds(60));
                }
            }
        }
    }

    private void measure(String name, boolean http, boolean direct, ServiceProcess service, Path dir, RedisServer redis,
            RedisCommands<String, String> r) throws Exception {
        Path portFile = dir.resolve("http.port");
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!LatencyScenario.ready(portFile)) {
            if (!service.isAlive() || System.nanoTime() > deadline) {
                run.failed(name, "the service did not become ready (log: " + service.logFile() + ")");
                return;
            }
            Thread.sleep(50);
        }
        int port = Integer.parseInt(Files.readString(portFile).trim());
        // the next pk of each client, distinct across clients and paths
        long[] httpNext = new long[CLIENTS];
        long[] directNext = new long[CLIENTS];
        for (int c = 0; c < CLIENTS; c++) {
            httpNext[c] = base(c, false);
            directNext[c] = base(c, true);
        }
        List<Client> httpClients = new ArrayList<>();
        List<Client> directClients = new ArrayList<>();
        try {
            for (int c = 0; c < CLIENTS; c++) {
                if (http) {
                    httpClients.add(new HttpClient(port));
                }
                if (direct) {
                    directClients.add(new ZaddClient(redis, PREFIX + ":operations:" + DIRECT_KEY));
                }
            }
            // Warm-up, not measured: the service's JIT takes tens of seconds of load to settle.
            if (http) {
                window(httpClients, httpNext, WARM_UP_SECONDS, service);
            }
            if (direct) {
                window(directClients, directNext, windowSeconds, service);
            }
            Window httpIdle = http ? window(httpClients, httpNext, windowSeconds, service) : null;
            Window directIdle = direct ? window(directClients, directNext, windowSeconds, service) : null;

            String queue = PREFIX + ":operations:" + BACKLOG_KEY;
            r.del(PREFIX + ":lock:" + BACKLOG_KEY);
            long started = System.nanoTime();
            // a third batch fetched: the first one was written and removed, the sync runs end to end
            long running = backlog - Math.min(backlog / 2, 3L * BATCH);
            while (r.zcard(queue) > running) {
                if (System.nanoTime() - started > Duration.ofSeconds(60).toNanos()) {
                    run.failed(name, "the sync did not start within 60 s of the lock's release (log: " + service.logFile() + ")");
                    return;
                }
                Thread.sleep(20);
            }
            long before = r.zcard(queue);
            long t0 = System.nanoTime();
            Window httpSync = http ? window(httpClients, httpNext, windowSeconds, service) : null;
            Window directSync = direct ? window(directClients, directNext, windowSeconds, service) : null;
            long after = r.zcard(queue);
            double syncRate = (before - after) / ((System.nanoTime() - t0) / 1e9);
            if (after == 0) {
                run.failed(name, "the backlog of " + backlog + " operations was drained before the sync windows ended: "
                        + "use more --rows");
                return;
            }
            long httpRegistered = 0;
            long directRegistered = 0;
            for (int c = 0; c < CLIENTS; c++) {
                httpRegistered += httpNext[c] - base(c, false);
                directRegistered += directNext[c] - base(c, true);
            }
            long httpQueued = r.zcard(PREFIX + ":operations:" + HTTP_KEY);
            long directQueued = r.zcard(PREFIX + ":operations:" + DIRECT_KEY);
            if (httpQueued != httpRegistered || directQueued != directRegistered) {
                run.failed(name, "Redis holds " + httpQueued + " pks registered over HTTP and " + directQueued
                        + " by ZADD, expected " + httpRegistered + " and " + directRegistered);
                return;
            }
            service.terminate();
            ServiceProcess.Result result = service.await(Duration.ofSeconds(60));
            if (result.exitCode() != 0) {
                run.failed(name, "the service exited with " + result.exitCode() + " after SIGTERM (log: "
                        + service.logFile() + ")");
                return;
            }
            String common = " clients=" + CLIENTS + " window_s=" + windowSeconds + " backlog=" + backlog + " ";
            String sync = " sync_rows_per_s=" + EndToEndRun.fmt(syncRate, 0);
            if (http) {
                line(HTTP, common, httpIdle, httpSync, sync + " service_cpu_us_idle="
                        + EndToEndRun.fmt(httpIdle.serviceCpuSeconds() * 1e6 / httpIdle.calls(), 1));
            }
            if (direct) {
                line(DIRECT, common, directIdle, directSync, sync);
            }
        } finally {
            for (Client c : httpClients) {
                c.close();
            }
            for (Client c : directClients) {
                c.close();
            }
        }
    }

    private static long base(int client, boolean direct) {
        return (client + 1) * 1_000_000_000L + (direct ? 500_000_000L : 0);
    }

    private void line(String name, String common, Window idle, Window sync, String extra) {
        double ratio = idle.percentileMs(0.999) > 0 ? sync.percentileMs(0.999) / idle.percentileMs(0.999) : -1;
        run.out.println("scenario: " + name + common.stripTrailing() + " " + idle.fields("idle") + " " + sync.fields("sync")
                + " ratio=" + EndToEndRun.fmt(ratio, 2) + extra);
        run.out.flush();
    }

    /** Every client registers as fast as it is answered for {@code seconds}; the calls' latencies. */
    private static Window window(List<Client> clients, long[] next, int seconds, ServiceProcess service) throws Exception {
        int n = clients.size();
        long[][] latencies = new long[n][];
        int[] counts = new int[n];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < n; c++) {
            int id = c;
            Thread t = new Thread(() -> {
                long[] mine = new long[1 << 16];
                int count = 0;
                try {
                    start.await();
                    long end = System.nanoTime() + seconds * 1_000_000_000L;
                    Client client = clients.get(id);
                    for (long now = System.nanoTime(); now < end; ) {
                        client.register(next[id]++);
                        long done = System.nanoTime();
                        if (count == mine.length) {
                            mine = Arrays.copyOf(mine, count * 2);
                        }
                        mine[count++] = done - now;
                        now = done;
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
                latencies[id] = mine;
                counts[id] = count;
            }, "registration-client-" + c);
            threads.add(t);
            t.start();
        }
        double cpu0 = service.cpuSecondsSoFar();
        long t0 = System.nanoTime();
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double cpu = service.cpuSecondsSoFar() - cpu0;
        if (failure.get() != null) {
            throw new IllegalStateException("a registration failed: " + failure.get(), failure.get());
        }
        int total = 0;
        for (int count : counts) {
            total += count;
        }
        long[] all = new long[total];
        int at = 0;
        for (int c = 0; c < n; c++) {
            System.arraycopy(latencies[c], 0, all, at, counts[c]);
            at += counts[c];
        }
        Arrays.sort(all);
        return new Window(total, elapsed, all, cpu);
    }

    /** {@code POST /api/operations}, one pk, on a keep-alive connection; a 200 is required. */
    private static final class HttpClient implements Client {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;
        private final byte[] head;

        HttpClient(int port) throws IOException {
            socket = new Socket("127.0.0.1", port);
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(30_000);
            out = socket.getOutputStream();
            in = new BufferedInputStream(socket.getInputStream(), 8192);
            head = ("POST /api/operations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    + "Authorization: Bearer " + TOKEN + "\r\nContent-Length: ").getBytes(StandardCharsets.US_ASCII);
        }

        @Override
        public void register(long pk) throws IOException {
            byte[] body = ("{\"importKey\":\"" + HTTP_KEY + "\",\"operation\":\"update\",\"pks\":[" + pk + "]}")
                    .getBytes(StandardCharsets.US_ASCII);
            byte[] length = (body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
            byte[] request = new byte[head.length + length.length + body.length];
            System.arraycopy(head, 0, request, 0, head.length);
            System.arraycopy(length, 0, request, head.length, length.length);
            System.arraycopy(body, 0, request, head.length + length.length, body.length);
            out.write(request);
            out.flush();
            String status = line(in);
            int contentLength = -1;
            for (String header = line(in); !header.isEmpty(); header = line(in)) {
                if (header.regionMatches(true, 0, "content-length:", 0, 15)) {
                    contentLength = Integer.parseInt(header.substring(15).trim());
                }
            }
            byte[] answer = in.readNBytes(Math.max(0, contentLength));
            if (!status.startsWith("HTTP/1.1 200")) {
                throw new IOException(status + ": " + new String(answer, StandardCharsets.UTF_8));
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** django-clickhouse's registration: {@code ZADD key <now> update:default.<pk>}, RESP on a blocking socket. */
    private static final class ZaddClient implements Client {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;
        private final String key;

        ZaddClient(RedisServer redis, String key) throws IOException {
            socket = new Socket(redis.host(), redis.port());
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(30_000);
            out = socket.getOutputStream();
            in = new BufferedInputStream(socket.getInputStream(), 8192);
            this.key = key;
        }

        @Override
        public void register(long pk) throws IOException {
            String score = Double.toString(System.currentTimeMillis() / 1000.0);
            String member = "update:default." + pk;
            String command = "*4\r\n$4\r\nZADD\r\n$" + key.length() + "\r\n" + key + "\r\n$" + score.length() + "\r\n" + score
                    + "\r\n$" + member.length() + "\r\n" + member + "\r\n";
            out.write(command.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String reply = line(in);
            if (!reply.startsWith(":")) {
                throw new IOException("ZADD answered " + reply);
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder(64);
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("the connection was closed after '" + b + "'");
            }
            if (c != '\r') {
                b.append((char) c);
            }
        }
        return b.toString();
    }
}
