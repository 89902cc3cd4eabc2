package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Real servers for the benchmarks that need them, from test-support: the ones named by
 * {@code PIPELINE_TEST_REDIS_URI}, {@code PIPELINE_TEST_POSTGRES_URI}, {@code PIPELINE_TEST_CLICKHOUSE_URI},
 * or private ones started from the installed binaries for this JVM (stopped by a shutdown hook).
 */
final class BenchServers {

    private static final ExtensionContext ROOT = rootContext();

    private BenchServers() {
    }

    static RedisServer redis() {
        return RedisServerExtension.server(ROOT);
    }

    static PostgresServer postgres() {
        return PostgresServerExtension.server(ROOT);
    }

    static ClickHouseServer clickHouse() {
        return ClickHouseServerExtension.server(ROOT);
    }

    /**
     * Runs a client program of PostgreSQL ({@code psql}, {@code pg_recvlogical}) on database {@code db} of
     * {@code pg}, with its connection options and password, to its end: null when it succeeded, else
     * its output.
     */
    static String postgresClient(PostgresServer pg, String db, String program, String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of(program, "-h", pg.host(), "-p", Integer.toString(pg.port()),
                "-U", pg.user(), "-d", db));
        command.addAll(List.of(arguments));
        return command(command, pg.password() == null ? Map.of() : Map.of("PGPASSWORD", pg.password()));
    }

    /** Runs a command to its end (at most 30 minutes): null when it succeeded, else its output. */
    static String command(List<String> command, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) {
            return output.trim();
        }
        return null;
    }

    /** A JVM-wide root context whose store computes each value once (the extensions need no more). */
    private static ExtensionContext rootContext() {
        Map<Object, Object> stores = new ConcurrentHashMap<>();
        Function<Object, Object> newStore = namespace -> {
            Map<Object, Object> values = new ConcurrentHashMap<>();
            return Proxy.newProxyInstance(BenchServers.class.getClassLoader(),
                    new Class<?>[] {ExtensionContext.Store.class}, (proxy, method, args) -> {
                        if (method.getName().equals("getOrComputeIfAbsent") && args.length == 3) {
                            @SuppressWarnings("unchecked")
                            Function<Object, Object> compute = (Function<Object, Object>) args[1];
                            return values.computeIfAbsent(args[0], compute);
                        }
                        throw new UnsupportedOperationException(method.getName());
                    });
        };
        ExtensionContext[] self = new ExtensionContext[1];
        self[0] = (ExtensionContext) Proxy.newProxyInstance(BenchServers.class.getClassLoader(),
                new Class<?>[] {ExtensionContext.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "getRoot" -> self[0];
                    case "getStore" -> stores.computeIfAbsent(args[0], newStore);
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    case "toString" -> "benchmark root context";
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        return self[0];
    }
}
