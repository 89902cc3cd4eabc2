package dev.changepipe.source.storage;

/** The names of the operations storage's and the sync worker's Micrometer meters. */
public final class StorageMetrics {

    /** Tag: the import key. */
    public static final String TAG_IMPORT_KEY = "import_key";
    /** Tag: the operation type ({@code insert}, {@code update}, {@code delete}). */
    public static final String TAG_TYPE = "type";

    /** Gauge: operations queued or being synced per import key (refreshed by registrations, syncs and counts). */
    public static final String QUEUE_SIZE = "changepipe.storage.queue.size";
    /** Counter: operations registered (every pk of every call). */
    public static final String REGISTERED = "changepipe.storage.registered";
    /** Timer: one registration call. */
    public static final String REGISTRATION_TIME = "changepipe.storage.registration";
    /** Counter: operations removed after a synced batch was acknowledged. */
    public static final String SYNCED = "changepipe.storage.synced";
    /** Counter: sync rounds that failed and will be retried. */
    public static final String SYNC_FAILURES = "changepipe.storage.sync.failures";

    private StorageMetrics() {
    }
}
