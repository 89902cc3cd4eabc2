package dev.changepipe.spi;

import dev.changepipe.core.Sink;
import java.util.List;

/**
 * Makes a {@link Sink} of a pipeline from one element of its {@code sinks:} list. Found with
 * {@link java.util.ServiceLoader} under {@code META-INF/services/dev.changepipe.spi.SinkProvider};
 * the same rules as {@link SourceProvider} apply: public class, public no-argument constructor, no I/O
 * in {@link #create}, bad settings as {@link ConfigException}s naming their path.
 *
 * <p>A provider may register a readiness probe for the sink's target with
 * {@link ServiceContext#readinessProbe}; {@code /health/ready} is ready only when every probe succeeds.
 */
public interface SinkProvider {

    /** The name used as {@code type:} in the configuration, e.g. {@code clickhouse}. */
    String type();

    /**
     * The record the sink's section binds to with {@link Settings#bind} ({@code type} left out):
     * its components, annotated with {@link Key}, are the keys of this type. It is the type's key
     * registry: the service generates the type's table in docs/options.md from it, and a test holds the
     * table and the record together.
     */
    Class<? extends Record> options();

    /** Creates the sink from its section ({@code type} already read). */
    Sink create(Settings settings, ServiceContext context);

    /**
     * The HTTP endpoints this type adds to the service, made once when the service starts: one call with
     * every pipeline whose sink is of this type (not called when no pipeline uses it). Connect lazily (on the
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
