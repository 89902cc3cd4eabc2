package dev.changepipe.source.storage;

import java.util.Objects;

/**
 * The per-import-key sync lock, held by one worker between {@link OperationsStorage#preSync} and
 * {@link OperationsStorage#postSync} or {@link OperationsStorage#postSyncFailed}. Immutable.
 *
 * <p>The {@code token} is a fencing token: every acquisition of the lock of an import key gets a
 * greater one. The storage checks it inside the removal, atomically, so a worker whose lock expired
 * (and was perhaps taken by another worker) removes nothing, whatever it believes.
 *
 * @param importKey the import key the lock is for
 * @param token the fencing token of this acquisition
 */
public record SyncLease(String importKey, long token) {

    public SyncLease {
        Objects.requireNonNull(importKey, "importKey");
    }
}
