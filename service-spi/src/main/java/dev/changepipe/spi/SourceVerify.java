package dev.changepipe.spi;

import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * A source that can compare its tables with what the run's sinks hold, on request, while it runs
 * ({@code storage-sync}: docs/verify.md): {@code POST /api/pipelines/<name>/verify} asks the running
 * pipeline's source for it, by {@code instanceof}.
 */
public interface SourceVerify {

    /**
     * Compares every table of the source with every sink that can be compared ({@link TableDigest}), and
     * completes with the result, once. It may take as long as reading the tables takes.
     */
    Mono<Result> verifyNow();

    /**
     * @param equal whether every table compared holds what its source holds
     * @param tables one line per table and sink compared, as the status page shows it ({@code equal, 3,000
     *     rows (12:00:03)}, {@code 1 key(s) differ: ...}, {@code failed: ...})
     */
    record Result(boolean equal, Map<String, String> tables) {
    }
}
