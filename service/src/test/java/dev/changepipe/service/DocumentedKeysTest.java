package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.spi.ConfigException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The keys docs/service.md lists for each source and sink type ("Source and sink types") are the keys
 * its provider reads: the provider's own reading is the registry. A section given an unknown key is
 * refused with the list of the keys the provider read; the test compares that list with the table's
 * top-level keys (the backticked names outside parentheses), so a key added to a provider and not to
 * the table, or the other way round, fails here.
 */
class DocumentedKeysTest {

    private static final Path SERVICE_DOC = Path.of("..", "docs", "service.md");
    /** A key no provider reads: the refusal lists the ones it did. */
    private static final String PROBE = "zzzNotAKey";

    /** The smallest section of each type that gets its provider to its unknown-key check. */
    private static final Map<String, String> SECTIONS = Map.of(
            "oplog-file", "{type: oplog-file, path: orders.log, " + PROBE + ": 1}",
            "storage-sync", "{type: storage-sync, connection: queue, importKeys: {app.m: {model: app.m}},"
                    + " databases: {default: app}, " + PROBE + ": 1}",
            "clickhouse", "{type: clickhouse, connection: main, " + PROBE + ": 1}",
            "redis-hot-storage", "{type: redis-hot-storage, connection: queue, " + PROBE + ": 1}",
            "postgres", "{type: postgres, connection: app, " + PROBE + ": 1}",
            "noop", "{type: noop, " + PROBE + ": 1}");

    @Test
    void everyTypesDocumentedKeysAreTheKeysItsProviderReads(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("orders.log"), "");
        Map<String, Set<String>> documented = documentedKeys();
        assertThat(documented.keySet()).as("types in docs/service.md").containsExactlyInAnyOrderElementsOf(SECTIONS.keySet());
        for (Map.Entry<String, String> e : SECTIONS.entrySet()) {
            boolean source = e.getKey().equals("oplog-file") || e.getKey().equals("storage-sync");
            assertThat(readKeys(dir, e.getValue(), source)).as("keys of type %s read by its provider", e.getKey())
                    .isEqualTo(documented.get(e.getKey()));
        }
    }

    /** The keys a provider read before it refused the probe key. */
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
            new Components(config, dir, new SimpleMeterRegistry(), DocumentedKeysTest.class.getClassLoader()).validate();
        } catch (ConfigException e) {
            ConfigException.Problem probe = e.problems().stream().filter(p -> p.path().endsWith("." + PROBE))
                    .findFirst().orElseThrow(() -> new AssertionError("no refusal of the probe key: " + e.getMessage()));
            String listed = probe.message().substring(probe.message().indexOf("expected one of: ") + "expected one of: ".length());
            Set<String> keys = Arrays.stream(listed.split(",\\s*")).collect(Collectors.toCollection(TreeSet::new));
            keys.remove("type");
            return keys;
        }
        throw new AssertionError("the probe key was accepted");
    }

    /** Per type, the top-level keys of its row in the "Source and sink types" table. */
    private static Map<String, Set<String>> documentedKeys() throws IOException {
        Map<String, Set<String>> out = new LinkedHashMap<>();
        Pattern row = Pattern.compile("^\\| `([a-z-]+)` \\| (source|sink) \\| (.*) \\|$");
        for (String line : Files.readAllLines(SERVICE_DOC)) {
            Matcher m = row.matcher(line);
            if (m.matches()) {
                out.put(m.group(1), topLevelKeys(m.group(3)));
            }
        }
        return out;
    }

    /** Backticked names outside parentheses, before the link to the connector's page. */
    static Set<String> topLevelKeys(String cell) {
        Set<String> keys = new TreeSet<>();
        int depth = 0;
        for (int i = 0; i < cell.length(); i++) {
            char c = cell.charAt(i);
            if (c == '(') {
                depth++;
            } else if (c == ')') {
                depth--;
            } else if (c == ':' && depth == 0 && i + 1 < cell.length() && cell.charAt(i + 1) == ' ') {
                break;  // ": [page](page.md)" or ": what it does" ends the list of keys
            } else if (c == '`' && depth == 0) {
                int end = cell.indexOf('`', i + 1);
                keys.add(cell.substring(i + 1, end));
                i = end;
            }
        }
        return keys;
    }
}
