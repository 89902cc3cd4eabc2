package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.service.plugin.CountingSourceProvider;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * A custom source as a user would ship it: the test builds a plugin jar (the compiled
 * {@code dev.changepipe.service.plugin} classes plus a {@code META-INF/services} registration) and
 * runs {@code ./pipeline run} with it on {@code PIPELINE_CLASSPATH}, the config naming its type.
 */
@ExtendWith(ClickHouseServerExtension.class)
class PluginIntegrationTest {

    static Path buildPluginJar(Path dir) throws Exception {
        Path classes = Path.of(CountingSourceProvider.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path jar = dir.resolve("counting-plugin.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
                Stream<Path> files = Files.walk(classes.resolve("dev/changepipe/service/plugin"))) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(f).toString()));
                Files.copy(f, out);
                out.closeEntry();
            }
            out.putNextEntry(new JarEntry("META-INF/services/" + SourceProvider.class.getName()));
            out.write((CountingSourceProvider.class.getName() + "\n").getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        return jar;
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
