package dev.changepipe.source.storage;

/**
 * The Redis keys of one import key: django-clickhouse's layout under a configurable prefix, with the
 * import key in a hash tag in cluster mode so that all of them share one slot (every script touches
 * only keys of one import key). Two keys are this storage's own: the copy of each open batch
 * ({@link #batch}) and a scratch key that a removal script creates and deletes within its run.
 */
record RedisKeys(String operations, String lock, String lastSync, String fence, String batchPrefix, String scratch) {

    static RedisKeys of(StorageOptions options, String importKey) {
        OperationsStorage.checkImportKey(importKey);
        String id = options.clusterMode() ? "{" + importKey + "}" : importKey;
        String p = options.keyPrefix();
        return new RedisKeys(p + ":operations:" + id, p + ":lock:" + id, p + ":last_sync:" + id,
                p + ":lock_fence:" + id, p + ":batch:" + id + ":", p + ":sync_scratch:" + id);
    }

    /** The copy of the members and scores of one fetched batch: {@code <prefix>:batch:<import key>:<token>:<n>}. */
    String batch(long token, long n) {
        return batchPrefix + token + ":" + n;
    }
}
