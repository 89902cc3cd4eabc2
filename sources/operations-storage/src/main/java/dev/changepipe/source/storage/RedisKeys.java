package dev.changepipe.source.storage;

/**
 * The Redis keys of one import key: django-clickhouse's layout under a configurable prefix, with the
 * import key in a hash tag in cluster mode so that all of them share one slot (every script touches
 * only keys of one import key).
 */
record RedisKeys(String operations, String lock, String lastSync, String fence) {

    static RedisKeys of(StorageOptions options, String importKey) {
        OperationsStorage.checkImportKey(importKey);
        String id = options.clusterMode() ? "{" + importKey + "}" : importKey;
        String p = options.keyPrefix();
        return new RedisKeys(p + ":operations:" + id, p + ":lock:" + id, p + ":last_sync:" + id,
                p + ":lock_fence:" + id);
    }
}
