package dev.changepipe.source.storage;

import java.util.List;
import java.util.Objects;

/**
 * Operations taken out of the queue by {@link OperationsStorage#getOperations} under a lease, oldest
 * first. The storage holds them (in Redis, in a key of the batch's own, with their scores) while the
 * batch is <em>open</em>: until {@link OperationsStorage#postSync} or
 * {@link OperationsStorage#removeBatch} removed it, or it was queued again because its lease failed
 * or lost the lock. Immutable.
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
