package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands providers add through the SPI ({@link CliCommand}), run through the service's command
 * line: {@code memory-sinks} of the test sink provider ({@link FlakySinkProvider}), and {@code handover}
 * of the storage-sync provider, which the service knows by name only.
 */
class ContributedCommandTest {

    private static final String CONFIG = """
            http:
              token: contributed-command-secret
            pipelines:
              - name: first
                source: {type: oplog-file, path: a.log}
                sinks: [{type: memory, id: cc-a}, {type: noop}]
              - name: without
                source: {type: oplog-file, path: b.log}
                sinks: [{type: noop}]
              - name: second
                source: {type: oplog-file, path: c.log}
                sinks: [{type: memory, id: cc-b}, {type: memory, id: cc-c}]
            """;

    /**
     * {@code memory-sinks -c FILE [--exit N] [--bad] [ARGS...]}: prints its arguments, the sections of its
     * type and each pipeline's sinks; exits N; {@code --bad} fails as a bad option value does.
     */
    static final class MemorySinksCommand implements CliCommand {

        @Override
        public String name() {
            return "memory-sinks";
        }

        @Override
        public String description() {
            return "Test command: prints the memory sinks of a configuration.";
        }

        @Override
        public int run(List<String> args, Context context) {
            if (args.contains("--help")) {
                context.out().println("Usage: " + context.commandName() + " -c FILE [--exit N] [--bad] [ARGS...]");
                return OK;
            }
            if (args.contains("--bad")) {
                throw new ConfigException("--bad", "refused, as asked");
            }
            List<HttpEndpoint.Section> sections = context.sections(Path.of(args.get(args.indexOf("-c") + 1)));
            context.out().println("args " + args);
            for (HttpEndpoint.Section s : sections) {
                List<Sink> sinks = context.sinks(s.pipeline());
                context.out().println(s.pipeline() + " " + s.settings().path() + " id=" + s.settings().string("id")
                        + " sinks=" + sinks.stream().map(Sink::name).toList());
                sinks.forEach(sink -> sink.close().block());
            }
            context.err().println("done");
            int exit = args.indexOf("--exit");
            return exit < 0 ? OK : Integer.parseInt(args.get(exit + 1));
        }
    }

    private record Result(int code, String out, String err) {
    }

    private static Result execute(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Cli.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void helpListsTheCommandsProvidersAddAfterTheServicesOwnAndBeforeHelp() {
        Result help = execute("--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).containsSubsequence("dead-letters", "handover", "Checks and prepares handing",
                "memory-sinks", "Test command: prints the memory sinks", "help ");
    }

    @Test
    void theCommandGetsItsArgumentsAsTypedAndThePipelinesOfItsType(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("service.yaml"), CONFIG);
        Result r = execute("memory-sinks", "-c", config.toString(), "--exit", "1", "-x", "--flag=v", "plain");
        assertThat(r.code()).as(r.err()).isEqualTo(1);
        assertThat(r.out()).isEqualTo(String.join("\n",
                "args [-c, " + config + ", --exit, 1, -x, --flag=v, plain]",
                "first pipelines[0].sinks[0] id=cc-a sinks=[memory-cc-a, noop]",
                "second pipelines[2].sinks[0] id=cc-b sinks=[memory-cc-b, memory-cc-c]",
                "second pipelines[2].sinks[1] id=cc-c sinks=[memory-cc-b, memory-cc-c]", ""));
        assertThat(r.err()).isEqualTo("done\n");
    }

    @Test
    void whatItPrintsHasTheConfigurationsSecretsMasked(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("service.yaml"), CONFIG);
        Result r = execute("memory-sinks", "-c", config.toString(), "contributed-command-secret");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("args [-c, " + config + ", ***]").doesNotContain("contributed-command-secret");
    }

    @Test
    void configurationErrorsAreReportedAsByEveryCommandWithExitCode2(@TempDir Path dir) throws Exception {
        Result bad = execute("memory-sinks", "--bad");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).isEqualTo("pipeline: invalid configuration\n  --bad: refused, as asked\n");

        Path config = Files.writeString(dir.resolve("service.yaml"), CONFIG + "extra: 1\n");
        Result invalid = execute("memory-sinks", "-c", config.toString());
        assertThat(invalid.code()).isEqualTo(2);
        assertThat(invalid.err()).startsWith("pipeline: invalid configuration\n  extra: unknown key");
    }

    @Test
    void helpOfTheCommandIsItsOwn() {
        assertThat(execute("help", "memory-sinks").out())
                .isEqualTo("Usage: pipeline memory-sinks -c FILE [--exit N] [--bad] [ARGS...]\n");
        assertThat(execute("memory-sinks", "--help").out())
                .isEqualTo("Usage: pipeline memory-sinks -c FILE [--exit N] [--bad] [ARGS...]\n");
    }

    @Test
    void handoverIsTheStorageSyncProvidersAndParsesItsOwnOptions(@TempDir Path dir) throws Exception {
        Result usage = execute("handover", "--from", "django-clickhouse");
        assertThat(usage.code()).isEqualTo(2);
        assertThat(usage.err()).startsWith("Missing required option: '--config=<config>'\nUsage: pipeline handover [-hV]");

        Path config = Files.writeString(dir.resolve("service.yaml"), CONFIG);
        Result none = execute("handover", "--to", "django-clickhouse", "--config", config.toString());
        assertThat(none.code()).isEqualTo(2);
        assertThat(none.err()).isEqualTo("pipeline: invalid configuration\n"
                + "  pipelines: no pipeline has a storage-sync source: nothing to hand over\n");
    }

    @Test
    void verifyIsOneCommandOfSeveralProvidersEachOnItsOwnPipelines(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("service.yaml"), CONFIG);
        // the oplog-file provider's part runs on the oplog-file pipelines; the others have none here
        Result all = execute("verify", "--config", config.toString());
        assertThat(all.code()).as(all.err()).isZero();
        assertThat(all.out()).contains("pipeline first:\n  log ").contains("pipeline second:\n")
                .contains("no sink of it can be compared").endsWith("equal: every table compared holds what its source holds\n");
        Result named = execute("verify", "--config", config.toString(), "--pipeline", "nothing");
        assertThat(named.code()).isEqualTo(2);
        assertThat(named.err()).startsWith("pipeline: invalid configuration\n  --pipeline: no ")
                .contains("storage-sync").contains("postgres-cdc").contains("oplog-file")
                .endsWith(" pipeline named 'nothing'\n");
        assertThat(execute("verify", "--help").out()).contains("--table").contains("--import-key").contains("--repair");
        assertThat(execute("--help").err()).doesNotContain("is left out");
    }
}
