package dev.changepipe.source.storage;

import java.util.List;
import java.util.Objects;

/**
 * Operations fetched by {@link OperationsStorage#getOperations} under a lease, oldest first. The
 * storage keeps what it needs to remove exactly these operations later (in Redis, a copy of the
 * fetched members with their scores, on the server); the batch is <em>open</em> until
 * {@link OperationsStorage#postSync} or {@link OperationsStorage#removeBatch} removed it, or
 * {@link OperationsStorage#postSyncFailed} ended its lease. Immutable.
 */
public final class OperationBatch {

    private final SyncLease lease;
    private final List<Operation> operations;
    private final Object handle;

    /** For storages: {@code handle} is whatever the storage needs to remove the batch. */
    OperationBatch(SyncLease lease, List<Operation> operations, Object handle) {
        this.lease = Objects.requireNonNull(lease, "lease");
        this.operations = List.copyOf(operations);
        this.handle = handle;
    }

    /** The lease the batch was fetched under. */
    public SyncLease lease() {
        return lease;
    }

    /** The operations, lowest score first. */
    public List<Operation> operations() {
        return operations;
    }

    /** How many operations the batch holds. */
    public int size() {
        return operations.size();
    }

    /** Whether the fetch found nothing. */
    public boolean isEmpty() {
        return operations.isEmpty();
    }

    Object handle() {
        return handle;
    }

    @Override
    public String toString() {
        return "OperationBatch[" + lease.importKey() + ", token " + lease.token() + ", " + operations.size()
                + " operations]";
    }
}
