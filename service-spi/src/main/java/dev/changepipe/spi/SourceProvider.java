package dev.changepipe.spi;

import dev.changepipe.core.Source;
import java.util.List;

/**
 * Makes the {@link Source} of a pipeline from its {@code source:} section. The service finds
 * providers with {@link java.util.ServiceLoader}: a plugin is a jar on the service's class path
 * ({@code $PIPELINE_CLASSPATH}, or {@code plugins/} of an installed distribution) holding the provider
 * class, public with a public no-argument constructor, and its name in
 * {@code META-INF/services/dev.changepipe.spi.SourceProvider}. A pipeline uses it with
 * {@code source: {type: <type()>, ...}}. See docs/plugins.md.
 *
 * <p><b>Threading.</b> {@link #create} is called on one thread, once per pipeline run (a restarted
 * pipeline gets a fresh source) and once by {@code validate}, which closes the source without reading
 * it: do no I/O in {@code create}, only in {@code read()}.
 *
 * <p><b>Configuration.</b> Bind the section with {@code settings.bind(options())}: every bad key
 * of it is reported at once, each a {@link ConfigException.Problem} naming its path. A check of your
 * own (one key against another, a path on disk) is a {@link ConfigException} at
 * {@code settings.pathOf(key)}.
 */
public interface SourceProvider {

    /** The name used as {@code type:} in the configuration, e.g. {@code oplog-file}. */
    String type();

    /**
     * The record the {@code source:} section binds to with {@link Settings#bind} ({@code type} left out):
     * its components, annotated with {@link Key}, are the keys of this type. It is the type's key
     * registry: the service generates the type's table in docs/options.md from it, and a test holds the
     * table and the record together.
     */
    Class<? extends Record> options();

    /**
     * Creates the source. {@code settings} is the {@code source:} section ({@code type} already read).
     *
     * @param context the pipeline's name, its checkpoint store, the meter registry, the connections
     */
    Source create(Settings settings, ServiceContext context);

    /**
     * The HTTP endpoints this type adds to the service, made once when the service starts: one call with
     * every pipeline whose source is of this type (not called when no pipeline uses it). Connect lazily (on the
     * first request), not here. None by default.
     */
    default List<HttpEndpoint> endpoints(List<HttpEndpoint.Section> sections) {
        return HttpEndpoint.none();
    }

    /**
     * The commands this type adds to the service's command line ({@code changepipe <name> ...}; see
     * {@link CliCommand}). Asked once per process, when the command line is built, whether or not a
     * pipeline uses the type: make nothing here but the commands. None by default.
     */
    default List<CliCommand> commands() {
        return CliCommand.none();
    }
}
