package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    private static final String MINIMAL = """
            connections:
              clickhouse:
                main:
                  endpoints: [http://127.0.0.1:8123]
            pipelines:
              - name: orders
                source:
                  type: oplog-file
                  path: orders.log
                sinks:
                  - type: clickhouse
                    connection: main
            """;

    private static ServiceConfig parse(String yaml, Map<String, String> env) {
        return new ConfigLoader(env::get).parse(yaml);
    }

    private static ConfigException problemsOf(String yaml, Map<String, String> env) {
        try {
            ServiceConfig config = parse(yaml, env);
            new Components(config, Path.of("/tmp"), new SimpleMeterRegistry(), ConfigLoaderTest.class.getClassLoader())
                    .validate();
        } catch (ConfigException e) {
            return e;
        }
        throw new AssertionError("expected a ConfigException");
    }

    @Test
    void minimalConfigTakesTheDefaults() {
        ServiceConfig c = parse(MINIMAL, Map.of());
        assertThat(c.http().host()).isEqualTo("127.0.0.1");
        assertThat(c.http().port()).isEqualTo(8080);
        assertThat(c.http().token()).isNull();
        assertThat(c.shutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.pipelines()).singleElement().satisfies(p -> {
            assertThat(p.name()).isEqualTo("orders");
            assertThat(p.pusher().kind()).isEqualTo(ServiceConfig.Pusher.Kind.PARSE_QUEUE);
        });
    }

    @Test
    void environmentVariablesAreSubstitutedWithDefaultsAndEscapes() {
        String yaml = MINIMAL.replace("http://127.0.0.1:8123", "\"${CH_URL}\"") + """
                http:
                  port: ${PORT:-9999}
                  token: ${TOKEN}
                logging:
                  level: "$${not.a.variable}"
                """;
        assertThatThrownBy(() -> parse(yaml, Map.of("CH_URL", "http://ch:8123", "TOKEN", "0123456789abcdef")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("logging.level: expected one of TRACE");
        ServiceConfig c = parse(yaml.replace("\"$${not.a.variable}\"", "debug"),
                Map.of("CH_URL", "http://ch:8123", "TOKEN", "0123456789abcdef"));
        assertThat(c.http().port()).isEqualTo(9999);
        assertThat(c.http().token()).isEqualTo("0123456789abcdef");
        assertThat(c.http().toString()).doesNotContain("0123456789abcdef");
        assertThat(c.connections().get("clickhouse").get("main").strings("endpoints")).containsExactly("http://ch:8123");
    }

    @Test
    void validationErrorsNameThePathOfAMissingEnvironmentVariable() {
        ConfigException e = problemsOf(MINIMAL.replace("http://127.0.0.1:8123", "\"${CH_URL}\""), Map.of());
        assertThat(e.problems()).extracting(ConfigException.Problem::path)
                .containsExactly("connections.clickhouse.main.endpoints[0]");
        assertThat(e.getMessage()).contains("environment variable CH_URL is not set");
    }

    @Test
    void validationErrorsNameThePathOfAnUnknownKeyAndTheExpectedKeys() {
        ConfigException e = problemsOf(MINIMAL.replace("      path: orders.log", "      path: orders.log\n      pollIntervall: 1s"), Map.of());
        assertThat(e.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].source.pollIntervall");
            assertThat(p.message()).startsWith("unknown key; expected one of:").contains("pollInterval");
        });
    }

    @Test
    void validationErrorsNameThePathOfBadValuesAndWhatWasExpected() {
        String yaml = MINIMAL
                .replace("  - name: orders", "  - name: orders\n    pusher:\n      parallelism: many\n      inFlightLimit: lots")
                .replace("      path: orders.log", "      path: orders.log\n      mode: sometimes")
                .replace("connection: main", "connection: nope")
                + "http:\n  port: 70000\n";
        ConfigException e = problemsOf(yaml, Map.of());
        assertThat(e.problems()).extracting(ConfigException.Problem::toString).contains(
                "http.port: expected an integer from 0 to 65535, got 70000",
                "pipelines[0].pusher.parallelism: expected an integer, got 'many'");
        ConfigException refs = problemsOf(MINIMAL.replace("connection: main", "connection: nope")
                .replace("      path: orders.log", "      path: orders.log\n      mode: sometimes"), Map.of());
        assertThat(refs.problems()).extracting(ConfigException.Problem::toString).containsExactly(
                "pipelines[0].source.mode: expected one of snapshot, follow, got 'sometimes'",
                "pipelines[0].sinks[0].connection: unknown clickhouse connection 'nope'; expected one of: main");
    }

    @Test
    void validationErrorsForUnknownTypesListTheKnownOnes() {
        ConfigException e = problemsOf(MINIMAL.replace("type: clickhouse", "type: clickhose"), Map.of());
        assertThat(e.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].type");
            assertThat(p.message()).contains("unknown sink type 'clickhose'").contains("clickhouse");
        });
    }

    @Test
    void validationErrorsForStructure() {
        assertThat(problemsOf("pipelines: []\n", Map.of()).getMessage()).contains("pipelines: required");
        assertThat(problemsOf("pipelines:\n  - name: a b\n", Map.of()).getMessage())
                .contains("pipelines[0].name: expected 1 to 64 letters");
        assertThat(problemsOf("pipelines: [\n", Map.of()).getMessage()).contains("not valid YAML at line");
        String twice = MINIMAL + MINIMAL.substring(MINIMAL.indexOf("  - name")).replace("pipelines:\n", "");
        assertThat(problemsOf(twice, Map.of()).getMessage()).contains("pipelines[1].name: pipeline name 'orders' is used twice");
        assertThat(problemsOf(MINIMAL + "tpyo: 1\n", Map.of()).problems()).extracting(ConfigException.Problem::path)
                .containsExactly("tpyo");
    }

    @Test
    void optionErrorsOfAConnectorNameTheirPath() {
        ConfigException e = problemsOf(MINIMAL.replace("http://127.0.0.1:8123", "ftp://x"), Map.of());
        assertThat(e.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("connections.clickhouse.main.endpoints[0]");
            assertThat(p.message()).contains("expected an http(s)://host:port URL");
        });
        ConfigException option = problemsOf(MINIMAL.replace("connection: main", "connection: main\n        encodeThreads: 0"), Map.of());
        assertThat(option.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].encodeThreads");
            assertThat(p.message()).contains("expected an integer from 1 to 64");
        });
    }

    @Test
    void sizesAndDurations() {
        assertThat(Settings.parseBytes("64MiB")).isEqualTo(64L << 20);
        assertThat(Settings.parseBytes("512 KB")).isEqualTo(512L << 10);
        assertThat(Settings.parseBytes("1048576")).isEqualTo(1L << 20);
        assertThat(Settings.parseBytes("1 parsec")).isEqualTo(-1);
        assertThat(Settings.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Settings.parseDuration("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Settings.parseDuration("PT1M")).isEqualTo(Duration.ofMinutes(1));
        assertThat(Settings.parseDuration("soon")).isNull();
    }

    @Test
    void annotatedExampleInDocsIsAcceptedByValidate(@TempDir Path dir) {
        Path example = Path.of(System.getProperty("user.dir")).resolve("../docs/service.example.yaml").normalize();
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = Cli.commandLine().setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(err))
                .execute("validate", "--config", example.toString());
        assertThat(err.toString()).isEmpty();
        assertThat(code).isZero();
        assertThat(out.toString()).contains("valid (1 pipeline(s): polls)");
    }

    @Test
    void validateCommandReportsEveryProblemWithItsPathAndExits2(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("bad.yaml");
        java.nio.file.Files.writeString(bad, MINIMAL + "extra: 1\nhttp:\n  port: -1\n");
        java.io.StringWriter err = new java.io.StringWriter();
        int code = Cli.commandLine().setErr(new java.io.PrintWriter(err)).execute("validate", "-c", bad.toString());
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains("extra: unknown key")
                .contains("\n  http.port: expected an integer from 0 to 65535, got -1");
    }
}
