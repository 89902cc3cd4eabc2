package dev.changepipe.spi;

import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.DeadLetterStore;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import reactor.core.publisher.Mono;

/**
 * What a {@link SourceProvider} or {@link SinkProvider} gets from the service while it creates a
 * component for one pipeline. Valid only during {@code create}.
 */
public interface ServiceContext {

    /** The pipeline's name (unique in the service; letters, digits, {@code . _ -}). */
    String pipelineName();

    /** The pipeline's own checkpoint store (a directory per pipeline). */
    CheckpointStore checkpoints();

    /**
     * The pipeline's dead letters, shared by its source and sinks:
     * {@code <checkpoints.directory>/<pipeline name>.dead-letters.jsonl}, created on the first letter.
     */
    DeadLetterStore deadLetters();

    /** Where meters go; {@code /metrics} publishes them. */
    MeterRegistry meterRegistry();

    /** The directory of the configuration file, against which relative paths are resolved. */
    Path baseDirectory();

    /**
     * The connection {@code name} among {@code connections.<kind>}, bound into {@code type} (a record
     * annotated with {@link Connection}, which names the kind). A {@link ConfigException} at
     * {@code path} (the key that names the connection) when it is unknown, or at the connection's keys
     * when they are wrong.
     */
    <C extends Record> C connection(String path, String name, Class<C> type);

    /**
     * The pipeline's sinks as the service built them for this run, for a source that asks them for a
     * capability by {@code instanceof} (a {@link TableDigest}, to verify what they hold). Empty until
     * every sink of the pipeline is built: ask while the source runs, not in {@code create}.
     */
    java.util.List<dev.changepipe.core.Sink> sinks();

    /**
     * Registers a readiness probe: a {@code Mono} that completes when the target answers and fails
     * otherwise. {@code /health/ready} subscribes to every probe (with a timeout) on each request.
     */
    void readinessProbe(String name, Mono<Void> probe);

    /**
     * Something the service shares with its components, by type: the Lettuce {@code ClientResources}
     * whose connections run on the HTTP server's event loops, for an endpoint's Redis connections.
     * Empty when the service shares nothing of that type (in {@code validate}, say).
     */
    <T> java.util.Optional<T> shared(Class<T> type);
}
