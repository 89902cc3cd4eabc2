package dev.changepipe.service;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.SinkProvider;
import dev.changepipe.spi.SourceProvider;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.ISetter;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * A command a provider adds ({@link CliCommand}), as a subcommand of the service's command line. The
 * subcommand takes every argument after its name as it is and hands them to the command, which parses
 * them itself; {@code --help} lists it with its description. The service knows it by its name only.
 *
 * <p>Several providers may add a command of one name ({@code verify}: storage-sync and postgres-cdc): it
 * is one command, which runs each provider's on the same arguments, each on its own pipelines of the
 * configuration ({@code -c|--config}) and only if it has one ({@code -p|--pipeline}: the one named); the
 * exit code is the worst; none has one: refused, naming the types. Without a configuration, or for help,
 * the first provider's answers.
 */
final class ContributedCommand implements Callable<Integer> {

    private static final String OWN_HELP = "contributedCommandHelp";

    private final CliCommand command;
    private final String type;
    private final boolean ofSource;
    private CommandSpec spec;
    private List<String> args = List.of();
    /** Other providers' commands of the same name. */
    private final List<ContributedCommand> alike = new ArrayList<>();
    /** The configuration a run of several providers' commands loaded once, and its file. */
    private Map.Entry<Path, Components> loaded;

    private ContributedCommand(CliCommand command, String type, boolean ofSource) {
        this.command = command;
        this.type = type;
        this.ofSource = ofSource;
    }

    /**
     * Adds the commands of every provider {@code loader} finds. A command whose name is taken (by the
     * service's own or another provider's) is left out, and so are the commands of a plugin that cannot
     * be loaded; {@code warnings} says so (the commands that read a configuration report a broken plugin
     * as a configuration error).
     */
    static void addAll(CommandLine cl, ClassLoader loader, PrintStream warnings) {
        for (SourceProvider p : providers(cl, SourceProvider.class, loader, warnings)) {
            add(cl, p, p::commands, p.type(), true, warnings);
        }
        for (SinkProvider p : providers(cl, SinkProvider.class, loader, warnings)) {
            add(cl, p, p::commands, p.type(), false, warnings);
        }
    }

    private static void add(CommandLine cl, Object provider, Supplier<List<CliCommand>> ofProvider, String type,
            boolean ofSource, PrintStream warnings) {
        List<CliCommand> commands;
        try {
            commands = ofProvider.get();
        } catch (RuntimeException e) {
            warnings.println(cl.getCommandName() + ": " + provider.getClass().getName() + " gives no commands: " + e);
            return;
        }
        for (CliCommand command : commands) {
            CommandLine taken = cl.getSubcommands().get(command.name());
            if (taken != null && taken.getCommand() instanceof ContributedCommand first && first.type != null
                    && !first.type.equals(type)) {
                ContributedCommand other = new ContributedCommand(command, type, ofSource);
                other.spec = first.spec;
                first.alike.add(other);
                continue;
            }
            if (taken != null) {
                warnings.println(cl.getCommandName() + ": the command '" + command.name() + "' of "
                        + provider.getClass().getName() + " is left out: the name is taken");
                continue;
            }
            ContributedCommand c = new ContributedCommand(command, type, ofSource);
            CommandSpec spec = CommandSpec.wrapWithoutInspection(c);
            spec.usageMessage().description(command.description());
            spec.addPositional(PositionalParamSpec.builder().paramLabel("ARGS").arity("0..*").type(String[].class)
                    .setter(new ISetter() {
                        @Override
                        public <T> T set(T value) {
                            c.args = value == null ? List.of() : List.of((String[]) value);
                            return null;
                        }
                    })
                    .build());
            // options too go to the command as they are
            spec.parser().unmatchedOptionsArePositionalParams(true);
            c.spec = spec;
            CommandLine sub = new CommandLine(spec);
            // help COMMAND prints what COMMAND --help prints
            sub.setHelpSectionKeys(List.of(OWN_HELP));
            sub.getHelpSectionMap().put(OWN_HELP, help -> c.ownHelp());
            cl.addSubcommand(command.name(), sub);
        }
    }

    /** What the command prints for {@code --help}. */
    private String ownHelp() {
        StringWriter text = new StringWriter();
        PrintWriter printer = new PrintWriter(text);
        command.run(List.of("--help"), new Context(printer, printer));
        printer.flush();
        return text.toString();
    }

    /** The providers that load; the first one that does not ends the search, with a warning. */
    private static <P> List<P> providers(CommandLine cl, Class<P> kind, ClassLoader loader, PrintStream warnings) {
        List<P> out = new ArrayList<>();
        Iterator<P> it = ServiceLoader.load(kind, loader).iterator();
        try {
            while (it.hasNext()) {
                out.add(it.next());
            }
        } catch (ServiceConfigurationError e) {
            warnings.println(cl.getCommandName() + ": cannot load a plugin (its commands are left out): " + e.getMessage());
        }
        return out;
    }

    @Override
    public Integer call() {
        if (alike.isEmpty()) {
            return runOne();
        }
        String config = option("-c", "--config");
        if (config == null || args.contains("-h") || args.contains("--help")) {
            return runOne();
        }
        String pipeline = option("-p", "--pipeline");
        // loaded once: each command's sections(config) of that file takes it from here
        Components components = load(Path.of(config));
        List<ContributedCommand> chosen = new ArrayList<>();
        for (ContributedCommand c : concat(this, alike)) {
            c.loaded = Map.entry(Path.of(config), components);
            List<HttpEndpoint.Section> sections = components.sections(c.ofSource).getOrDefault(c.type, List.of());
            if (sections.stream().anyMatch(p -> pipeline == null || p.pipeline().equals(pipeline))) {
                chosen.add(c);
            }
        }
        if (chosen.isEmpty()) {
            String types = String.join(" or ", concat(this, alike).stream().map(c -> c.type).toList());
            String kind = ofSource ? " source" : " sink";
            throw pipeline == null
                    ? new ConfigException("pipelines", "no pipeline has a " + types + kind + ": nothing to " + command.name())
                    : new ConfigException("--pipeline", "no " + types + " pipeline named '" + pipeline + "'");
        }
        int code = CliCommand.OK;
        for (ContributedCommand c : chosen) {
            c.args = args;
            code = Math.max(code, c.runOne());
        }
        return code;
    }

    /** The configuration, every key and section checked as validate and run check them, every problem at once. */
    private static Components load(Path file) {
        return Components.load(ConfigLoader.fromEnvironment(), file, Cli.baseDirectory(file), new SimpleMeterRegistry(),
                Cli.class.getClassLoader());
    }

    private static List<ContributedCommand> concat(ContributedCommand first, List<ContributedCommand> rest) {
        List<ContributedCommand> all = new ArrayList<>(List.of(first));
        all.addAll(rest);
        return all;
    }

    /** The value of an option in the arguments ({@code -c F}, {@code --config F}, {@code --config=F}), or null. */
    private String option(String shortName, String longName) {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if ((a.equals(shortName) || a.equals(longName)) && i + 1 < args.size()) {
                return args.get(i + 1);
            }
            if (a.startsWith(longName + "=")) {
                return a.substring(longName.length() + 1);
            }
        }
        return null;
    }

    private Integer runOne() {
        Cli.setLogLevel("WARN");
        Context context = new Context(MaskingConverter.masking(spec.commandLine().getOut()),
                MaskingConverter.masking(spec.commandLine().getErr()));
        try {
            return command.run(args, context);
        } finally {
            context.out.flush();
            context.err.flush();
        }
    }

    private final class Context implements CliCommand.Context {

        private final PrintWriter out;
        private final PrintWriter err;
        private ServiceConfig config;
        private Components components;

        Context(PrintWriter out, PrintWriter err) {
            this.out = out;
            this.err = err;
        }

        @Override
        public String commandName() {
            return spec.qualifiedName();
        }

        @Override
        public PrintWriter out() {
            return out;
        }

        @Override
        public PrintWriter err() {
            return err;
        }

        @Override
        public List<HttpEndpoint.Section> sections(Path file) {
            components = loaded != null && loaded.getKey().equals(file) ? loaded.getValue() : load(file);
            config = components.config();
            return components.sections(ofSource).getOrDefault(type, List.of());
        }

        @Override
        public String askService(String method, String path, String body, java.time.Duration timeout) {
            if (config == null) {
                throw new IllegalStateException("no configuration loaded: call sections(config) first");
            }
            String token = Cli.token(null, () -> config);
            try {
                return Cli.request(method, Cli.url(config) + path, token, body, timeout).toString();
            } catch (java.io.IOException e) {
                throw new IllegalStateException(Cli.url(config) + path + ": " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }

        @Override
        public List<Sink> sinks(String pipeline) {
            if (components == null) {
                throw new IllegalStateException("no configuration loaded: call sections(config) first");
            }
            ServiceConfig.PipelineConfig pc = config.pipelines().stream().filter(p -> p.name().equals(pipeline))
                    .findFirst().orElseThrow(() -> new IllegalArgumentException("no pipeline named '" + pipeline + "'"));
            // the providers' own sinks: a command asks them for capabilities, and writes nothing to measure
            return components.sinks(pc, null).stream().map(s -> s instanceof MeteredSink m ? m.delegate() : s).toList();
        }
    }
}
