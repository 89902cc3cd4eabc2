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
    private final List<String> rejected;
    private final Object handle;

    /** For storages: {@code handle} is whatever the storage needs to remove the batch. */
    OperationBatch(SyncLease lease, List<Operation> operations, Object handle) {
        this(lease, operations, List.of(), handle);
    }

    /**
     * For storages: {@code rejected} are the members that left the queue with the batch but are not
     * operations; they go with the batch's removal.
     */
    OperationBatch(SyncLease lease, List<Operation> operations, List<String> rejected, Object handle) {
        this.lease = Objects.requireNonNull(lease, "lease");
        this.operations = List.copyOf(operations);
        this.rejected = List.copyOf(rejected);
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

    /**
     * The members of the batch that are not operations (written by something else than a registration:
     * no {@code <op>:<alias>.<pk>} form); they left the queue with the batch and go with its removal.
     */
    public List<String> rejected() {
        return rejected;
    }

    /** How many operations the batch holds. */
    public int size() {
        return operations.size();
    }

    /** How many members the fetch took out of the queue: the operations and the rejected members. */
    public int fetched() {
        return operations.size() + rejected.size();
    }

    /** Whether the fetch found nothing. */
    public boolean isEmpty() {
        return fetched() == 0;
    }

    Object handle() {
        return handle;
    }

    @Override
    public String toString() {
        return "OperationBatch[" + lease.importKey() + ", token " + lease.token() + ", " + operations.size()
                + " operations" + (rejected.isEmpty() ? "" : ", " + rejected.size() + " rejected") + "]";
    }
}
