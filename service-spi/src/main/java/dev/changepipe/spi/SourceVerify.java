package dev.changepipe.spi;

import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * A source that can compare its tables with what the run's sinks hold, on request, while it runs
 * ({@code storage-sync}, {@code postgres-cdc}: docs/verify.md): {@code POST /api/pipelines/<name>/verify}
 * asks the running pipeline's source for it, by {@code instanceof}.
 */
public interface SourceVerify {

    /**
     * Compares the tables of the source with every sink that can be compared ({@link TableDigest}), and
     * completes with the result, once. It may take as long as reading the tables takes.
     *
     * @param table the one table to compare, as the source names its tables; null for every one. One the
     *     source does not have fails the call with an {@link IllegalArgumentException} that lists its tables.
     * @param repair whether the keys found to differ are written again through the source's own path (its
     *     versioned, acknowledged writes), so that a later verify finds them equal; a source that cannot do
     *     it now fails the call with an {@link IllegalStateException} that says why
     */
    Mono<Result> verify(String table, boolean repair);

    /**
     * @param equal whether every table compared holds what its source holds
     * @param tables one line per table and sink compared, as the status page shows it ({@code equal, 3,000
     *     rows (12:00:03)}, {@code 1 key(s) differ: ...}, {@code failed: ...})
     * @param report what {@code ./pipeline verify} prints of the comparison: the keys that differ, their
     *     values, the repair
     */
    record Result(boolean equal, Map<String, String> tables, String report) {
    }
}
