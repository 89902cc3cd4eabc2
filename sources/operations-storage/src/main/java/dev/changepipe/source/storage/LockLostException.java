package dev.changepipe.source.storage;

import dev.changepipe.core.PipelineException;

/**
 * A {@link OperationsStorage#postSync} by a worker whose lock had expired or had been taken over: nothing
 * was removed, so every fetched operation is synced again by a later round. Retrying the same
 * {@code postSync} cannot help, so it is not retryable; the worker starts a new round instead.
 */
public final class LockLostException extends PipelineException {

    public LockLostException(SyncLease lease) {
        super("sync lock of import key " + lease.importKey() + " was lost (token " + lease.token()
                + " expired or taken over); nothing removed, the batch will be synced again");
    }
}
