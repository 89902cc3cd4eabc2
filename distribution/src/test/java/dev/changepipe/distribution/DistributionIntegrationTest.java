package dev.changepipe.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution as a user installs it: the tarball this build made, unpacked into a directory
 * outside the repository, run from yet another directory with a relative config, with nothing of the
 * repository or the Maven build on its class path.
 */
@ExtendWith(ClickHouseServerExtension.class)
class DistributionIntegrationTest {

    private static final String VERSION = System.getProperty("changepipe.version");

    @TempDir
    static Path installRoot;

    /** The unpacked {@code changepipe-<version>} directory. */
    static Path home;

    @BeforeAll
    static void unpack() throws Exception {
        Path tarball = Path.of(System.getProperty("changepipe.distribution"));
        assertThat(tarball).exists();
        Result untar = run(installRoot, Map.of(), "tar", "-xzf", tarball.toString());
        assertThat(untar.exit()).as(untar.output()).isZero();
        home = installRoot.resolve("changepipe-" + VERSION);
    }

    @Test
    void theTarballHoldsTheLauncherTheRunnableJarTheLibrariesTheExampleConfigAndTheDocs() throws IOException {
        assertThat(home.resolve("bin/changepipe")).isExecutable();
        assertThat(home.resolve("changepipe.jar")).isRegularFile();
        assertThat(home.resolve("config/example.yaml")).isRegularFile();
        assertThat(home.resolve("docs/install.md")).isRegularFile();
        assertThat(home.resolve("docs/service.md")).isRegularFile();
        assertThat(home.resolve("LICENSE")).isRegularFile();
        assertThat(home.resolve("plugins")).isDirectory();
        assertThat(home.resolve("lib/classes.txt")).isRegularFile();
        try (Stream<Path> lib = Files.list(home.resolve("lib"))) {
            assertThat(lib.map(p -> p.getFileName().toString()))
                    .contains("service-" + VERSION + ".jar", "pipeline-core-" + VERSION + ".jar")
                    .noneMatch(name -> name.startsWith("test-support") || name.startsWith("junit"));
        }
        assertThat(Files.readString(home.resolve("config/example.yaml"))).contains("pipelines:");
    }

    @Test
    void theInstalledServiceValidatesAndRunsAnOplogIntoClickHouseFromAnotherDirectory(ClickHouseServer ch,
            @TempDir Path work) throws Exception {
        String db = ch.createDatabase("dist");
        Files.createDirectories(work.resolve("conf"));
        // relative paths in a config are resolved against the config file's directory
        List<String> lines = new ArrayList<>();
        for (int pk = 1; pk <= 1_000; pk++) {
            lines.add("1764900000." + pk + " SAVE [{\"model\": \"shop.order\", \"pk\": " + pk
                    + ", \"fields\": {\"status\": \"new\", \"total\": \"" + pk + ".50\"}}]");
        }
        for (int pk = 1; pk <= 100; pk++) {
            lines.add("1764900001." + pk + " DELETE [{\"model\": \"shop.order\", \"pk\": " + pk + "}]");
        }
        Files.write(work.resolve("conf/orders.log"), lines, StandardCharsets.UTF_8);
        Files.writeString(work.resolve("conf/service.yaml"), """
                http: {port: 0}
                checkpoints: {directory: state}
                connections:
                  clickhouse:
                    main: {endpoints: ["%s"], database: %s}
                pipelines:
                  - name: orders
                    source: {type: oplog-file, path: orders.log, mode: snapshot}
                    sinks:
                      - type: clickhouse
                        connection: main
                        tables:
                          shop.order:
                            target: shop_order
                            create: {columns: ["id UInt64", "status String", "total Decimal(12, 2)"], orderBy: [id]}
                """.formatted(ch.httpUrl(), db));

        Result validate = run(work, Map.of(), home.resolve("bin/changepipe").toString(),
                "validate", "--config", "conf/service.yaml");
        assertThat(validate.exit()).as(validate.output()).isZero();
        assertThat(validate.output()).contains("conf/service.yaml: valid (1 pipeline(s): orders)");

        Result run = run(work, Map.of(), home.resolve("bin/changepipe").toString(),
                "run", "--config", "conf/service.yaml");
        assertThat(run.exit()).as(run.output()).isZero();
        assertThat(ch.execute("SELECT count(), sum(total) FROM " + db + ".shop_order FINAL WHERE is_deleted = 0").trim())
                .isEqualTo("900\t" + sumOfTotals(101, 1_000));
        assertThat(work.resolve("conf/state")).isDirectory();
    }

    /**
     * {@code java -jar changepipe.jar} finds the service through the jar's manifest; the launcher makes
     * its class-data archive and starts from it ({@code -Xshare:on} fails when it cannot); the usage
     * names the command as the user called it.
     */
    @Test
    void theRunnableJarAndTheLauncherStartTheServiceWithNothingButTheDistribution() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Result jar = run(home, Map.of(), java, "-jar", "changepipe.jar", "--version");
        assertThat(jar.exit()).as(jar.output()).isZero();
        assertThat(jar.output()).contains("changepipe ");

        Result help = run(installRoot, Map.of(), home.resolve("bin/changepipe").toString(), "--help");
        assertThat(help.exit()).as(help.output()).isZero();
        assertThat(help.output()).contains("Usage: changepipe ").contains("run").contains("validate");

        Result shared = run(installRoot, Map.of("PIPELINE_JAVA_OPTS", "-Xshare:on -Xlog:class+load=info"),
                home.resolve("bin/changepipe").toString(), "--version");
        assertThat(shared.exit()).as(shared.output()).isZero();
        assertThat(shared.output()).contains("dev.changepipe.service.Main source: shared objects file");
    }

    /** The BOM has no parent and its own version: it must follow the project's. */
    @Test
    void theBomManagesTheLibraryArtifactsAtTheProjectsVersion() throws IOException {
        String bom = Files.readString(Path.of("..", "bom", "pom.xml"));
        Matcher version = Pattern.compile("<artifactId>changepipe-bom</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(bom);
        assertThat(version.find()).isTrue();
        assertThat(version.group(1)).isEqualTo(VERSION);
        for (String artifact : List.of("pipeline-core", "pusher", "source-oplog-file", "source-operations-storage",
                "sink-clickhouse", "sink-redis-hot-storage", "sink-postgres", "service")) {
            assertThat(bom).contains("<artifactId>" + artifact + "</artifactId>");
            assertThat(home.resolve("lib/" + artifact + "-" + VERSION + ".jar")).isRegularFile();
        }
    }

    private static String sumOfTotals(int from, int to) {
        java.math.BigDecimal sum = java.math.BigDecimal.ZERO;
        for (int pk = from; pk <= to; pk++) {
            sum = sum.add(new java.math.BigDecimal(pk + ".50"));
        }
        return sum.toPlainString();
    }

    record Result(int exit, String output) {
    }

    /**
     * Runs a command in {@code dir} with the environment a user's shell would have: the Java running
     * this test as {@code JAVA_HOME}, {@code HOME} in the temporary directory, none of the launcher's
     * variables from the build.
     */
    static Result run(Path dir, Map<String, String> env, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        pb.environment().keySet().removeIf(k -> k.startsWith("PIPELINE_"));
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("HOME", installRoot.toString());
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).as(out).isTrue();
        return new Result(p.exitValue(), out);
    }
}
