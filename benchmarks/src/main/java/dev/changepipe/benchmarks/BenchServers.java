package dev.changepipe.benchmarks;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
