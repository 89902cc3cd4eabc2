package dev.changepipe.source.storage;

import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import java.util.List;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** What the storage-sync provider's commands share: parsing their options, choosing their pipelines. */
final class Commands {

    private Commands() {
    }

    /** The options every command of the provider has: the configuration, and which pipeline. */
    static final class Target {

        @Option(names = {"-c", "--config"}, required = true, description = "the service's configuration")
        Path config;

        @Option(names = {"-p", "--pipeline"}, description = "the storage-sync pipeline (default: every one)")
        String pipeline;

        /** The storage-sync pipelines of the configuration this names; {@code what}: for the refusal. */
        List<HttpEndpoint.Section> pipelines(CliCommand.Context context, String what) {
            return Commands.pipelines(context.sections(config), pipeline, what);
        }
    }

    /**
     * Parses {@code args} into {@code options} (a picocli {@code @Command}); the exit code when the
     * arguments asked for help or were refused (both printed), else null.
     */
    static Integer parse(Object options, List<String> args, CliCommand.Context context) {
        CommandLine cl = new CommandLine(options).setCommandName(context.commandName())
                .setOut(context.out()).setErr(context.err());
        String[] argv = args.toArray(String[]::new);
        try {
            return CommandLine.executeHelpRequest(cl.parseArgs(argv));
        } catch (CommandLine.ParameterException e) {
            try {
                return cl.getParameterExceptionHandler().handleParseException(e, argv);
            } catch (Exception unreported) {
                throw new IllegalStateException(unreported.getMessage(), unreported);
            }
        }
    }

    /** The storage-sync pipelines (all, or the one {@code --pipeline} names); {@code what}: for the refusal. */
    static List<HttpEndpoint.Section> pipelines(List<HttpEndpoint.Section> storageSync, String pipeline, String what) {
        if (pipeline == null) {
            if (storageSync.isEmpty()) {
                throw new ConfigException("pipelines", "no pipeline has a " + StorageSyncSourceProvider.TYPE
                        + " source: nothing to " + what);
            }
            return storageSync;
        }
        return List.of(storageSync.stream().filter(p -> p.pipeline().equals(pipeline)).findFirst().orElseThrow(() ->
                new ConfigException("--pipeline", "no " + StorageSyncSourceProvider.TYPE + " pipeline named '"
                        + pipeline + "'; expected one of: "
                        + String.join(", ", storageSync.stream().map(HttpEndpoint.Section::pipeline).toList()))));
    }
}
