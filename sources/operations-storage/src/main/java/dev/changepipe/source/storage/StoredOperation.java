package dev.changepipe.source.storage;

import java.util.Objects;

/**
 * An operation as fetched from a storage, with the score it had when it was fetched. The score is
 * what lets {@link OperationsStorage#postSync} remove exactly what was fetched: an operation
 * registered again after the fetch has a different score and stays queued.
 *
 * @param operation the operation
 * @param score its registration time in seconds since the epoch (django-clickhouse's score), as
 *     stored; compared exactly, never rounded
 */
public record StoredOperation(Operation operation, double score) {

    public StoredOperation {
        Objects.requireNonNull(operation, "operation");
    }
}
