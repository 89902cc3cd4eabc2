package dev.changepipe.verify;

import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.Settings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The options of {@code ./pipeline verify}, which the storage-sync, postgres-cdc and oplog-file providers
 * each add for their own pipelines (the service runs each on the same arguments): parsed with picocli as the
 * service's own commands are.
 */
@Command(mixinStandardHelpOptions = true, description = VerifyOptions.DESCRIPTION)
public final class VerifyOptions {

    public static final String NAME = "verify";
    public static final String DESCRIPTION = "Compares the PostgreSQL tables of storage-sync and postgres-cdc "
            + "pipelines, and the logs of oplog-file pipelines, with their target tables while replication runs, and "
            + "prints the keys that differ; --repair writes them again through the pipeline.";

    @Option(names = {"-c", "--config"}, required = true, description = "the service's configuration")
    public Path config;

    @Option(names = {"-p", "--pipeline"}, description = "the pipeline (default: every storage-sync, postgres-cdc and oplog-file one)")
    public String pipeline;

    @Option(names = {"-t", "--table"}, description = "the table to verify: a postgres-cdc table (`table`, "
            + "`schema.table`), a storage-sync import key or its table, an oplog-file table (`app.model`) (default: every one)")
    public String table;

    @Option(names = {"-k", "--import-key"}, description = "a storage-sync import key to verify (repeatable; default: "
            + "every one)")
    public List<String> importKeys;

    @Option(names = "--repair", description = "write the keys that differ again through the pipeline: registered in "
            + "the operations storage (storage-sync), read again by the running service (postgres-cdc), their last change "
            + "in the log written through the sinks (oplog-file)")
    public boolean repair;

    @Option(names = "--settle", defaultValue = "10s", description = "how long a key that differs must keep its "
            + "source row unchanged before it counts as a difference rather than a change in flight (500ms, 10s, "
            + "2m, PT1M; default ${DEFAULT-VALUE}; a postgres-cdc pipeline uses its source's verify.settle)")
    public String settle;

    @Option(names = "--buckets", defaultValue = "0", description = "the buckets keys are hashed into (default: about "
            + "one per 1000 rows; storage-sync)")
    public int buckets;

    @Option(names = "--show", defaultValue = "10", description = "the keys listed of each kind of difference "
            + "(default ${DEFAULT-VALUE}; storage-sync)")
    public int show;

    /**
     * A provider's {@code verify} command: the name, the description and the options of every one;
     * {@link #verify} compares the provider's own pipelines.
     */
    public abstract static class Command implements CliCommand {

        @Override
        public final String name() {
            return NAME;
        }

        @Override
        public final String description() {
            return DESCRIPTION;
        }

        @Override
        public final int run(List<String> args, Context context) {
            int[] exit = new int[1];
            VerifyOptions options = parse(args, context, exit);
            return options == null ? exit[0] : verify(options, context);
        }

        /** Verifies the provider's pipelines that {@code options} name; the exit code. */
        protected abstract int verify(VerifyOptions options, Context context);

        /**
         * Prints the last line of a verify whose tables were {@code problems} times not equal (or not
         * compared) and returns its exit code; {@code repaired}: what a repair did, for that line.
         */
        protected static int summary(java.io.PrintWriter out, int problems, boolean repair, String repaired) {
            out.println(problems == 0 ? "equal: every table compared holds what its source holds"
                    : "not equal: " + problems + " table(s) differ or could not be compared (above)"
                            + (repair ? "; " + repaired : ""));
            out.flush();
            return problems == 0 ? OK : FAILED;
        }
    }

    /**
     * The options of {@code args}; null when the arguments asked for help or were refused (both printed),
     * and {@code exit[0]} is then the exit code.
     */
    private static VerifyOptions parse(List<String> args, CliCommand.Context context, int[] exit) {
        VerifyOptions o = new VerifyOptions();
        CommandLine cl = new CommandLine(o).setCommandName(context.commandName())
                .setOut(context.out()).setErr(context.err());
        String[] argv = args.toArray(String[]::new);
        try {
            Integer done = CommandLine.executeHelpRequest(cl.parseArgs(argv));
            if (done != null) {
                exit[0] = done;
                return null;
            }
        } catch (CommandLine.ParameterException e) {
            try {
                exit[0] = cl.getParameterExceptionHandler().handleParseException(e, argv);
                return null;
            } catch (Exception unreported) {
                throw new IllegalStateException(unreported.getMessage(), unreported);
            }
        }
        if (o.settle() == null) {
            context.err().println(context.commandName() + ": --settle: expected a duration such as 500ms, 10s, 2m or"
                    + " PT1M, got '" + o.settle + "'");
            exit[0] = CliCommand.USAGE;
            return null;
        }
        return o;
    }

    /** {@code --settle}, or null when it is not a duration. */
    public Duration settle() {
        Duration d = Settings.parseDuration(settle.trim());
        return d == null || d.isNegative() ? null : d;
    }
}
