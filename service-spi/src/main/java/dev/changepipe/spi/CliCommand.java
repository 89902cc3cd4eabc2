package dev.changepipe.spi;

import dev.changepipe.core.Sink;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * A command a provider adds to the service's command line: {@code changepipe <name> ARGS...} runs it
 * with {@code ARGS}, and {@code changepipe --help} lists it with its {@link #description}.
 * {@link SourceProvider#commands} and {@link SinkProvider#commands} hand them over; the service asks
 * every provider it finds once, when the command line is built, and knows a command by its name only.
 *
 * <p><b>Arguments.</b> The command parses its own arguments (by hand, or with a parser of its own)
 * and answers {@code --help} itself. The configuration is an argument like any other (by convention
 * {@code -c|--config FILE}); {@link Context#sections} loads it.
 *
 * <p><b>Errors and exit codes.</b> {@link #run} returns the process's exit code: {@value #OK} done,
 * {@value #FAILED} failed (what stands in the way printed), {@value #USAGE} bad usage. A
 * {@link ConfigException} thrown out of it (a bad configuration, a bad option value) is reported as
 * every command of the service reports one, each problem with its path, and exits {@value #USAGE};
 * any other exception is reported with its message and exits {@value #FAILED}.
 *
 * <p><b>Threading.</b> {@link #run} is called once, on the main thread, which it may block: the
 * process ends when it returns.
 */
public interface CliCommand {

    /** The exit code of a command that did what it was asked. */
    int OK = 0;
    /** The exit code of a command that could not do it; it printed why. */
    int FAILED = 1;
    /** The exit code of a bad usage or configuration. */
    int USAGE = 2;

    /** The name typed after {@code changepipe}: lower case, words joined by {@code -}, e.g. {@code handover}. */
    String name();

    /** One or two sentences for the service's {@code --help}: what the command does and when to run it. */
    String description();

    /**
     * Runs the command.
     *
     * @param args the arguments after its name, as typed
     * @param context where to print, and the configuration
     * @return the exit code
     */
    int run(List<String> args, Context context);

    /** What the service gives a running command. */
    interface Context {

        /** How the user called the command, e.g. {@code changepipe handover}: for its usage and messages. */
        String commandName();

        /** Standard output. The configuration's secrets (passwords, tokens) are printed as {@code ***}. */
        PrintWriter out();

        /** Standard error, masked like {@link #out}. */
        PrintWriter err();

        /**
         * Loads a configuration file as {@code run} and {@code validate} do (environment variables
         * substituted, every key checked; a {@link ConfigException} naming the path of each problem
         * otherwise) and returns, in file order, the pipelines that use the provider's type: its
         * {@code source:} section for a {@link SourceProvider}'s command, each of its {@code sinks:} of
         * that type for a {@link SinkProvider}'s. Each section's context resolves the pipeline's
         * connections. Empty when no pipeline uses the type.
         */
        List<HttpEndpoint.Section> sections(Path config);

        /**
         * The sinks of a pipeline of the configuration {@link #sections} loaded, made by their providers as
         * a run makes them (connecting on first use); the caller closes them. A command that needs a sink
         * of another type than its own asks it for a capability by {@code instanceof} (such as
         * {@link TableHandover}), never for its class.
         *
         * @throws IllegalStateException before {@link #sections} loaded a configuration
         */
        List<Sink> sinks(String pipeline);

        /**
         * Asks the running service that the configuration {@link #sections} loaded describes (its
         * {@code http:} address; the bearer token of {@code $CHANGEPIPE_TOKEN}, else {@code http.token}):
         * {@code method} on {@code path} ({@code /api/...}) with a JSON body (or null), waiting up to
         * {@code timeout} for the answer.
         *
         * @return the answer's JSON text
         * @throws IllegalStateException when no service answers, or it answers with an error (its message)
         */
        String askService(String method, String path, String body, java.time.Duration timeout);
    }

    /** No commands: what a provider offers by default. */
    static List<CliCommand> none() {
        return List.of();
    }
}
