package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code ./pipeline} launcher as a user runs it, from a directory other than the repository's. */
class PipelineLauncherIntegrationTest {

    @Test
    void aRelativeConfigIsResolvedAgainstTheDirectoryTheUserRanItFrom(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("conf"));
        Files.writeString(dir.resolve("conf/service.yaml"), """
                connections:
                  clickhouse:
                    main:
                      endpoints: [http://127.0.0.1:8123]
                pipelines:
                  - name: orders
                    source: {type: oplog-file, path: orders.log}
                    sinks: [{type: clickhouse, connection: main}]
                """);
        ProcessBuilder pb = new ProcessBuilder(ServiceUnderTest.ROOT.resolve("pipeline").toString(),
                "validate", "--config", "conf/service.yaml")
                .directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().put("PIPELINE_SKIP_BUILD", "1");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(out).contains("conf/service.yaml: valid (1 pipeline(s): orders)");
        assertThat(p.exitValue()).isZero();
    }

    /**
     * The launcher makes a class-data archive of service/classes.txt after a build (here: the build
     * Maven just made) and starts the JVM from it. {@code -Xshare:on} makes the JVM fail when the
     * archive cannot be used, and the class-loading log shows the service's own classes come from it.
     */
    @Test
    void theServiceStartsFromTheClassDataArchiveTheLauncherMakes() throws Exception {
        Map.Entry<Integer, String> made = ServiceUnderTest.launcher(Map.of("PIPELINE_SKIP_BUILD", ""), "--version");
        assertThat(made.getKey()).as(made.getValue()).isZero();
        assertThat(ServiceUnderTest.ROOT.resolve("service/target/pipeline.jsa")).exists();

        Map.Entry<Integer, String> used = ServiceUnderTest.launcher(
                Map.of("PIPELINE_JAVA_OPTS", "-Xshare:on -Xlog:class+load=info"), "--version");
        assertThat(used.getKey()).as(used.getValue()).isZero();
        assertThat(used.getValue()).contains("dev.changepipe.service.Main source: shared objects file")
                .contains("changepipe ");
    }
}
