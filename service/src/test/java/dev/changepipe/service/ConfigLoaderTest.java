package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
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
        return problemsOf(yaml, env, Path.of("/tmp"));
    }

    private static ConfigException problemsOf(String yaml, Map<String, String> env, Path base) {
        try {
            ServiceConfig config = parse(yaml, env);
            new Components(config, base, new SimpleMeterRegistry(), ConfigLoaderTest.class.getClassLoader())
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
        assertThat(c.http().ioThreads()).isEqualTo(1);
        assertThat(c.shutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.pipelines()).singleElement().satisfies(p -> {
            assertThat(p.name()).isEqualTo("orders");
            assertThat(p.pusher().kind()).isEqualTo(ServiceConfig.Pusher.Kind.PARSE_QUEUE);
        });
    }

    @Test
    void instancesTakeTheirDefaultsAndNameABadConnectionIdOrLeaseTime() {
        assertThat(parse(MINIMAL, Map.of()).instances()).isNull();
        String redis = MINIMAL.replace("connections:\n", "connections:\n  redis:\n    shared:\n      uri: redis://127.0.0.1:6379\n");
        ServiceConfig.Instances i = parse(redis + "instances:\n  redis: shared\n", Map.of()).instances();
        assertThat(i.leaseTime()).isEqualTo(Duration.ofSeconds(10));
        assertThat(i.writeLog()).isEqualTo(100_000);
        assertThat(i.id()).matches("[A-Za-z0-9][A-Za-z0-9_.:-]*-" + ProcessHandle.current().pid());
        assertThat(problemsOf(redis + "instances:\n  redis: other\n  id: 'a b'\n  leaseTime: 100ms\n", Map.of()).problems())
                .extracting(ConfigException.Problem::toString).containsExactlyInAnyOrder(
                        "instances.redis: unknown redis connection 'other'; expected one of: shared",
                        "instances.id: expected 1 to 64 letters, digits, '.', '_', '-' or ':', got 'a b'",
                        "instances.leaseTime: expected at least 300ms, got PT0.1S");
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
                .hasMessageContaining("logging.level: expected one of trace");
        ServiceConfig c = parse(yaml.replace("\"$${not.a.variable}\"", "debug"),
                Map.of("CH_URL", "http://ch:8123", "TOKEN", "0123456789abcdef"));
        assertThat(c.http().port()).isEqualTo(9999);
        assertThat(c.http().token()).isEqualTo("0123456789abcdef");
        assertThat(c.http().toString()).doesNotContain("0123456789abcdef");
        assertThat(c.connections().get("clickhouse").get("main").node().get("endpoints").get(0).asText()).isEqualTo("http://ch:8123");
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
    void nestedSubstitutionUsesTheInnerVariableOnlyWhenTheOuterIsUnset() {
        String yaml = MINIMAL.replace("path: orders.log", "path: \"${LOG:-${LOG_DIR}/orders.log}\"");
        assertThat(parse(yaml, Map.of("LOG_DIR", "/var/app")).pipelines().get(0).source().string("path"))
                .isEqualTo("/var/app/orders.log");
        assertThat(parse(yaml, Map.of("LOG", "/x.log")).pipelines().get(0).source().string("path")).isEqualTo("/x.log");
        assertThat(parse(MINIMAL.replace("path: orders.log", "path: \"${A:-${B:-${C:-deep}}}/}\""), Map.of())
                .pipelines().get(0).source().string("path")).isEqualTo("deep/}");
        assertThatThrownBy(() -> parse(yaml, Map.of())).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).extracting(ConfigException.Problem::toString).containsExactly(
                        "pipelines[0].source.path: environment variable LOG_DIR is not set; expected it to be set, or a default as ${LOG_DIR:-value}"));
        for (String bad : new String[] {"${LOG:-${LOG_DIR/x", "${LOG", "${LOG:-x", "${}", "${LOG-x}"}) {
            assertThatThrownBy(() -> parse(MINIMAL.replace("path: orders.log", "path: \"" + bad + "\""), Map.of("LOG_DIR", "d")))
                    .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                            .satisfies(p -> assertThat(p.path()).isEqualTo("pipelines[0].source.path")));
        }
    }

    @Test
    void duplicateKeysAreAnErrorNamingTheKey() {
        ConfigException e = problemsOf(MINIMAL + "http:\n  port: 8081\n  host: 0.0.0.0\n  port: 8082\n", Map.of());
        assertThat(e.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("http.port");
            assertThat(p.message()).startsWith("key given twice (again at line");
        });
        ConfigException nested = problemsOf(MINIMAL.replace("      path: orders.log", "      path: orders.log\n      path: other.log"), Map.of());
        assertThat(nested.problems()).extracting(ConfigException.Problem::path).containsExactly("pipelines[0].source.path");
    }

    @Test
    void aMissingVariableOfASecretKeyIsReportedUnmaskedAndTheSecretValuesAreMasked() {
        String yaml = MINIMAL.replace("endpoints: [http://127.0.0.1:8123]",
                "endpoints: [http://127.0.0.1:8123]\n      password: ${CH_PASSWORD}");
        ConfigException e = problemsOf(yaml, Map.of());
        assertThat(MaskingConverter.mask(e.getMessage()))
                .contains("connections.clickhouse.main.password: environment variable CH_PASSWORD is not set");
        parse(yaml, Map.of("CH_PASSWORD", "pa55-w0rd-from-env"));
        assertThat(MaskingConverter.mask("login failed for pa55-w0rd-from-env")).isEqualTo("login failed for ***");
    }

    @Test
    void aCheckpointDirectoryThatIsAFileOrUnderProcIsAnErrorNamingTheKey(@TempDir Path dir) throws Exception {
        java.nio.file.Files.writeString(dir.resolve("orders.log"), "");
        java.nio.file.Files.writeString(dir.resolve("afile"), "x");
        ConfigException file = problemsOf(MINIMAL + "checkpoints:\n  directory: afile\n", Map.of(), dir);
        assertThat(file.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("checkpoints.directory");
            assertThat(p.message()).contains("is not a directory");
        });
        ConfigException under = problemsOf(MINIMAL + "checkpoints:\n  directory: afile/sub\n", Map.of(), dir);
        assertThat(under.problems()).extracting(ConfigException.Problem::path).containsExactly("checkpoints.directory");
        ConfigException proc = problemsOf(MINIMAL + "checkpoints:\n  directory: /proc/changepipe\n", Map.of(), dir);
        assertThat(proc.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("checkpoints.directory");
            assertThat(p.message()).contains("cannot create /proc/changepipe");
        });
        java.nio.file.Files.createDirectories(dir.resolve("checkpoints"));
        java.nio.file.Files.writeString(dir.resolve("checkpoints/orders"), "x");
        assertThat(problemsOf(MINIMAL, Map.of(), dir).problems()).extracting(ConfigException.Problem::path)
                .containsExactly("checkpoints.directory");
        java.nio.file.Files.delete(dir.resolve("checkpoints/orders"));
        Components ok = new Components(parse(MINIMAL + "checkpoints:\n  directory: not/yet/there\n", Map.of()), dir,
                new SimpleMeterRegistry(), getClass().getClassLoader());
        ok.validate();
        assertThat(dir.resolve("not")).doesNotExist();
    }

    @Test
    void sourcePathsAndTheDeadLetterFileAreCheckedNamingTheKey(@TempDir Path dir) throws Exception {
        ConfigException snapshot = problemsOf(MINIMAL.replace("path: orders.log", "path: orders.log\n      mode: snapshot"),
                Map.of(), dir);
        assertThat(snapshot.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].source.path");
            assertThat(p.message()).contains(dir.resolve("orders.log") + " does not exist");
        });
        ConfigException follow = problemsOf(MINIMAL.replace("path: orders.log", "path: missing/orders.log"), Map.of(), dir);
        assertThat(follow.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].source.path");
            assertThat(p.message()).contains("nor does its directory");
        });
        // follow mode: the file may come later, its directory is enough
        new Components(parse(MINIMAL, Map.of()), dir, new SimpleMeterRegistry(), getClass().getClassLoader()).validate();

        java.nio.file.Files.createDirectories(dir.resolve("dead"));
        ConfigException dead = problemsOf(MINIMAL.replace("path: orders.log", "path: orders.log\n      deadLetterFile: dead"),
                Map.of(), dir);
        assertThat(dead.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].source.deadLetterFile");
            assertThat(p.message()).contains("is a directory; expected a file");
        });
        java.nio.file.Files.createDirectories(dir.resolve("orders.log" + dev.changepipe.source.oplog.OplogFileOptions.DEAD_LETTER_SUFFIX));
        ConfigException byDefault = problemsOf(MINIMAL, Map.of(), dir);
        assertThat(byDefault.problems()).singleElement().satisfies(p -> {
            assertThat(p.path()).isEqualTo("pipelines[0].source.path");
            assertThat(p.message()).contains("default dead-letter file").contains("set deadLetterFile");
        });
    }

    @Test
    void annotatedExampleInDocsIsAcceptedByValidate(@TempDir Path dir) throws Exception {
        Path original = Path.of(System.getProperty("user.dir")).resolve("../docs/service.example.yaml").normalize();
        // the example's log is ../var/oplog: in follow mode its directory must exist
        Path example = dir.resolve("docs/service.example.yaml");
        java.nio.file.Files.createDirectories(example.getParent());
        java.nio.file.Files.createDirectories(dir.resolve("var"));
        java.nio.file.Files.copy(original, example);
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        int code = Cli.commandLine().setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(err))
                .execute("validate", "--config", example.toString());
        assertThat(err.toString()).isEmpty();
        assertThat(code).isZero();
        assertThat(out.toString()).contains("valid (2 pipeline(s): polls, shop)");
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

    @Test
    void validateReportsTheEnvironmentsTheServicesAndEverySectionsProblemsInOnePass(@TempDir Path dir) throws Exception {
        java.nio.file.Files.writeString(dir.resolve("orders.log"), "");
        Path bad = dir.resolve("bad.yaml");
        java.nio.file.Files.writeString(bad, """
                http: {port: 70000}
                connections:
                  clickhouse:
                    main: {endpoints: [http://127.0.0.1:8123], password: "${CHANGEPIPE_TEST_UNSET_VARIABLE}"}
                pipelines:
                  - name: orders
                    source: {type: oplog-file, path: orders.log, pollInterval: soon, pollIntervall: 1s}
                    sinks:
                      - {type: clickhouse, connection: main, encodeThreads: 100}
                      - {type: clickhouse, connection: nope}
                  - name: second
                    pusher: {inFlightLimit: lots}
                    source: {type: oplog-file, path: orders.log, mode: sideways}
                    sinks: [{type: noop}]
                """);
        java.io.StringWriter err = new java.io.StringWriter();
        int code = Cli.commandLine().setErr(new java.io.PrintWriter(err)).execute("validate", "-c", bad.toString());
        assertThat(code).isEqualTo(2);
        assertThat(err.toString()).contains(
                "\n  connections.clickhouse.main.password: environment variable CHANGEPIPE_TEST_UNSET_VARIABLE is not set",
                "\n  http.port: expected an integer from 0 to 65535, got 70000",
                "\n  pipelines[1].pusher.inFlightLimit: expected a positive size",
                "\n  pipelines[0].source.pollInterval: expected a positive duration",
                "\n  pipelines[0].source.pollIntervall: unknown key; expected one of:",
                "\n  pipelines[0].sinks[0].encodeThreads: expected an integer from 1 to 64, got 100",
                "\n  pipelines[0].sinks[1].connection: unknown clickhouse connection 'nope'; expected one of: main",
                "\n  pipelines[1].source.mode: expected one of snapshot, follow, got 'sideways'");
    }
}
