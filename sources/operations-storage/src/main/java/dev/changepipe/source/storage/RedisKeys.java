package dev.changepipe.source.storage;

/**
 * The Redis keys of one import key: django-clickhouse's layout under a configurable prefix, with the
 * import key in a hash tag in cluster mode so that all of them share one slot (every script touches
 * only keys of one import key). Three kinds of key are this storage's own: each step of a batch being
 * synced ({@link #batch}), the set of their names ({@link #batches}), and the mark of an import key
 * handed back to django-clickhouse ({@link #handedOver}).
 */
record RedisKeys(String operations, String lock, String lockPid, String lastSync, String fence, String batches,
        String batchPrefix, String handedOver) {

    static RedisKeys of(StorageOptions options, String importKey) {
        OperationsStorage.checkImportKey(importKey);
        String id = options.clusterMode() ? "{" + importKey + "}" : importKey;
        String p = options.keyPrefix();
        return new RedisKeys(p + ":operations:" + id, p + ":lock:" + id, p + ":lock_pid:" + id,
                p + ":last_sync:" + id, p + ":lock_fence:" + id, p + ":batches:" + id, p + ":batch:" + id + ":",
                p + ":handed_over:" + id);
    }

    /**
     * The members and scores moved by one step of a batch being synced:
     * {@code <prefix>:batch:<import key>:<token>:<n>}.
     */
    String batch(long token, long n) {
        return batchPrefix + token + ":" + n;
    }

    /**
     * The keys every script of {@link RedisStorage} starts with (operations, lock, batches, lock_pid),
     * then {@code more}.
     */
    String[] scriptKeys(String... more) {
        String[] keys = new String[4 + more.length];
        keys[0] = operations;
        keys[1] = lock;
        keys[2] = batches;
        keys[3] = lockPid;
        System.arraycopy(more, 0, keys, 4, more.length);
        return keys;
    }
}
