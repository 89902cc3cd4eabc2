package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
