package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.spi.SourceProvider;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A custom source as a user would ship it: the plugin example's jar (module examples/counting-plugin,
 * built against service-spi alone, registered in {@code META-INF/services}) on
 * {@code PIPELINE_CLASSPATH} of {@code ./pipeline run}, the config naming its type.
 */
@ExtendWith(ClickHouseServerExtension.class)
class PluginIntegrationTest {

    /**
     * The example's jar as Maven built it (module examples/counting-plugin, compiled against
     * service-spi alone), copied where a user would keep it.
     */
    static Path buildPluginJar(Path dir) throws Exception {
        Path target = ServiceUnderTest.ROOT.resolve("examples/counting-plugin/target");
        Path built;
        try (Stream<Path> files = Files.list(target)) {
            built = files.filter(f -> f.getFileName().toString().matches("example-counting-plugin-.*\\.jar"))
                    .findFirst().orElseThrow();
        } catch (java.io.IOException | java.util.NoSuchElementException e) {
            throw new IllegalStateException("build the plugin example first (./mvnw -pl examples/counting-plugin package)", e);
        }
        try (JarFile jar = new JarFile(built.toFile())) {
            assertThat(jar.stream().map(JarEntry::getName))
                    .contains("com/example/counting/CountingSourceProvider.class",
                            "META-INF/services/" + SourceProvider.class.getName())
                    .noneMatch(name -> name.startsWith("dev/changepipe/"));
        }
        return Files.copy(built, dir.resolve("counting-plugin.jar"));
    }

    static String config(Path dir, String clickHouseUrl, String database) {
        return """
                http:
                  port: 0
                  portFile: %1$s/http.port
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  clickhouse:
                    test:
                      endpoints: ["%2$s"]
                      database: %3$s
                pipelines:
                  - name: counted
                    source:
                      type: counting          # the plugin's SourceProvider.type()
                      count: 5000
                      chunkSize: 500
                      label: plugin
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          plugin.item:
                            create:
                              columns: ["id UInt64", "label String"]
                              orderBy: [id]
                """.formatted(dir, clickHouseUrl, database);
    }

    @Test
    void customSourceFromAPluginJarRunsFromTheConfig(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_plugin");
        Path jar = buildPluginJar(dir);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, ch.httpUrl(), db));
        Map<String, String> env = Map.of("PIPELINE_CLASSPATH", jar.toString());

        // without the jar, the type is unknown and validate says where
        var unknown = ServiceUnderTest.launcher(Map.of(), "validate", "--config", config.toString());
        assertThat(unknown.getKey()).isEqualTo(2);
        assertThat(unknown.getValue()).contains("pipelines[0].source.type: unknown source type 'counting'");
        var valid = ServiceUnderTest.launcher(env, "validate", "--config", config.toString());
        assertThat(valid.getValue()).contains("valid (1 pipeline(s): counted)");

        // the plugin's source is bounded: the run ends once it completed and everything was written
        var run = ServiceUnderTest.launcher(env, "run", "--config", config.toString());
        assertThat(run.getKey()).as(run.getValue()).isZero();
        assertThat(run.getValue()).contains("every pipeline completed");
        assertThat(ch.execute("SELECT count(), min(label), max(id) FROM " + db + ".plugin_item FINAL FORMAT TSV").trim())
                .isEqualTo("5000\tplugin-1\t5000");
    }
}
