package dev.changepipe.spi;

import java.util.List;
import reactor.core.publisher.Mono;

/**
 * An HTTP endpoint a connector adds to the service's admin server ({@code http:} in the config, loopback
 * by default): {@link SourceProvider#endpoints} and {@link SinkProvider#endpoints} make them once, when
 * the service starts, for the pipelines that use the provider's type. The server checks the bearer
 * token of a {@linkplain #mutating mutating} request and the body's size before the endpoint sees it,
 * and answers an {@link HttpException} as a JSON error.
 *
 * <p>{@link #handle} runs on the server's event loop: do no blocking I/O there (return a {@code Mono}
 * that completes when the work is done).
 */
public interface HttpEndpoint {

    /** The requests it answers: those whose path starts with this, e.g. {@code /api/operations}. */
    String prefix();

    /** Whether a request with this method changes something, and so needs the bearer token. */
    default boolean mutating(String method) {
        return !method.equals("GET") && !method.equals("HEAD");
    }

    /** Answers a request; fails with an {@link HttpException} for a client error. */
    Mono<HttpReply> handle(HttpRequest request);

    /** Releases what the endpoint opened (connections); called once, when the service stops. */
    default Mono<Void> close() {
        return Mono.empty();
    }

    /**
     * One pipeline's use of a provider's type, for {@code endpoints} and {@link CliCommand}s: its name,
     * the section of its config ({@code source:}, or one of its {@code sinks:}) and its context.
     */
    record Section(String pipeline, Settings settings, ServiceContext context) {
    }

    /** No endpoints: what a provider offers by default. */
    static List<HttpEndpoint> none() {
        return List.of();
    }
}
