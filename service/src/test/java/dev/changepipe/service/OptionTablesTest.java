package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.SinkProvider;
import dev.changepipe.spi.SourceProvider;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/options.md is the key registries as tables: each type's record ({@code options()}) and the
 * service's own ({@link ServiceConfig.File}). A key added to a record and not to the page (or the other
 * way round) fails here; {@code -Doptions.write=true} writes the page anew. And each provider reads
 * exactly the keys of the record it declares: a section given an unknown key is refused with the list
 * of the keys it knows.
 */
class OptionTablesTest {

    private static final Path OPTIONS_DOC = Path.of("..", "docs", "options.md");
    /** A key no provider reads: the refusal lists the ones it does. */
    private static final String PROBE = "zzzNotAKey";

    /** The smallest section of each built-in type that gets its provider to read its keys. */
    private static final Map<String, String> SECTIONS = Map.of(
            "oplog-file", "{type: oplog-file, path: orders.log, " + PROBE + ": 1}",
            "storage-sync", "{type: storage-sync, connection: queue, importKeys: {app.m: {model: app.m}},"
                    + " databases: {default: app}, " + PROBE + ": 1}",
            "postgres-cdc", "{type: postgres-cdc, connection: app, tables: [orders], " + PROBE + ": 1}",
            "clickhouse", "{type: clickhouse, connection: main, " + PROBE + ": 1}",
            "redis-hot-storage", "{type: redis-hot-storage, connection: queue, " + PROBE + ": 1}",
            "postgres", "{type: postgres, connection: app, " + PROBE + ": 1}",
            "noop", "{type: noop, " + PROBE + ": 1}");

    @Test
    void theOptionsPageIsGeneratedFromEveryTypesKeyRegistry() throws IOException {
        String generated = OptionTables.markdown(builtIn(SourceProvider.class), builtIn(SinkProvider.class));
        if (Boolean.getBoolean("options.write")) {
            Files.writeString(OPTIONS_DOC, generated, StandardCharsets.UTF_8);
        }
        assertThat(Files.readString(OPTIONS_DOC, StandardCharsets.UTF_8))
                .as("docs/options.md; write it anew with ./mvnw -pl service test -Dtest=OptionTablesTest -Doptions.write=true")
                .isEqualTo(generated);
        assertThat(generated).contains("### `oplog-file`", "### `storage-sync`", "### `postgres-cdc`", "### `clickhouse`", "### `postgres`",
                "### `redis-hot-storage`", "### `noop`", "### `connections.clickhouse.<name>`",
                "### `connections.redis.<name>`", "### `connections.postgres.<name>`");
    }

    @Test
    void everyProviderReadsExactlyTheKeysOfTheRecordItDeclares(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("orders.log"), "");
        Map<String, Class<? extends Record>> registries = new java.util.LinkedHashMap<>();
        builtIn(SourceProvider.class).forEach(p -> registries.put(p.type(), p.options()));
        builtIn(SinkProvider.class).forEach(p -> registries.put(p.type(), p.options()));
        assertThat(registries.keySet()).containsExactlyInAnyOrderElementsOf(SECTIONS.keySet());
        for (Map.Entry<String, String> e : SECTIONS.entrySet()) {
            boolean source = registries.get(e.getKey()).getSimpleName().matches("(Oplog|StorageSync|PostgresCdc).*");
            Set<String> declared = Arrays.stream(registries.get(e.getKey()).getRecordComponents())
                    .map(RecordComponent::getName).collect(Collectors.toCollection(TreeSet::new));
            assertThat(readKeys(dir, e.getValue(), source)).as("keys of type %s read by its provider", e.getKey())
                    .isEqualTo(declared);
        }
    }

    /** The providers of the connectors (not the test's, not the plugin example's). */
    private static <P> List<P> builtIn(Class<P> kind) {
        return ServiceLoader.load(kind, OptionTablesTest.class.getClassLoader()).stream()
                .map(ServiceLoader.Provider::get)
                .filter(p -> p.getClass().getName().startsWith("dev.changepipe.")
                        && !p.getClass().getProtectionDomain().getCodeSource().getLocation().toString().contains("test-classes"))
                .toList();
    }

    /** The keys a provider knows, as its refusal of the probe key lists them. */
    private static Set<String> readKeys(Path dir, String section, boolean source) {
        String yaml = """
                connections:
                  clickhouse:
                    main: {endpoints: ["http://127.0.0.1:8123"]}
                  redis:
                    queue: {uri: "redis://127.0.0.1:6379"}
                  postgres:
                    app: {url: "r2dbc:postgresql://postgres@127.0.0.1:5432/app"}
                pipelines:
                  - name: p
                    source: %s
                    sinks: [%s]
                """.formatted(source ? section : "{type: oplog-file, path: orders.log}",
                source ? "{type: noop}" : section);
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse(yaml);
        try {
            new Components(config, dir, new SimpleMeterRegistry(), OptionTablesTest.class.getClassLoader()).validate();
        } catch (ConfigException e) {
            ConfigException.Problem probe = e.problems().stream().filter(p -> p.path().endsWith("." + PROBE))
                    .findFirst().orElseThrow(() -> new AssertionError("no refusal of the probe key: " + e.getMessage()));
            String listed = probe.message().substring(probe.message().indexOf("expected one of: ") + "expected one of: ".length());
            return Arrays.stream(listed.split(",\\s*")).collect(Collectors.toCollection(TreeSet::new));
        }
        throw new AssertionError("the probe key was accepted");
    }
}
