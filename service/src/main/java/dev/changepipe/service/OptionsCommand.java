package dev.changepipe.service;

import dev.changepipe.spi.SinkProvider;
import dev.changepipe.spi.SourceProvider;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;

/** {@code options}: every configuration key of the service and of the types installed, plugins included. */
@Command(name = "options", mixinStandardHelpOptions = true,
        description = "Prints every configuration key (Markdown tables: type, default, meaning) of the service and of "
                + "each source, sink and connection type installed, plugins included.")
final class OptionsCommand implements Callable<Integer> {

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        ClassLoader loader = Cli.class.getClassLoader();
        List<SourceProvider> sources = ServiceLoader.load(SourceProvider.class, loader).stream()
                .map(ServiceLoader.Provider::get).toList();
        List<SinkProvider> sinks = ServiceLoader.load(SinkProvider.class, loader).stream()
                .map(ServiceLoader.Provider::get).toList();
        spec.commandLine().getOut().print(OptionTables.markdown(sources, sinks));
        spec.commandLine().getOut().flush();
        return Cli.OK;
    }
}
