package dev.changepipe.sink.redis;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.spi.Connection;
import dev.changepipe.spi.Key;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** The keys of a {@code type: redis-hot-storage} sink section (docs/options.md is generated from them). */
record HotStorageConfig(
        @Key(value = "the Redis to write to", required = true, connection = Redis.class) String connection,
        @Key("put before every key the sink writes; a constant, never from data") String keyPrefix,
        @Key(value = "per model, its unique constraints, each a field or a list of fields: the objects can be"
                + " looked up by them", defaultText = "none")
        Map<String, List<List<String>>> uniqueConstraints,
        @Key("how long a deleted object's tombstone is kept (it refuses older versions meanwhile)") Duration tombstoneTtl,
        @Key(value = "changes sent per flush; keys per `MGET` of the lookups", min = 1, max = 1_000_000) Integer pipelineSize,
        @Key("a value the target cannot take: `dead-letter` (the pipeline's dead letters) or `fail` the write")
        OnBadRecord onBadRecord,
        @Key("the sink's name in metrics and dead letters") String name) {

    HotStorageConfig {
        keyPrefix = keyPrefix == null ? HotStorageOptions.DEFAULT_KEY_PREFIX : keyPrefix;
        uniqueConstraints = uniqueConstraints == null ? Map.of() : uniqueConstraints;
        tombstoneTtl = tombstoneTtl == null ? HotStorageOptions.DEFAULT_TOMBSTONE_TTL : tombstoneTtl;
        pipelineSize = pipelineSize == null ? HotStorageOptions.DEFAULT_PIPELINE_SIZE : pipelineSize;
        onBadRecord = onBadRecord == null ? OnBadRecord.DEAD_LETTER : onBadRecord;
        name = name == null ? HotStorageOptions.DEFAULT_SINK_NAME : name;
    }

    /** {@code connections.redis.<name>}. */
    @Connection("redis")
    record Redis(@Key(value = "a `redis://host:port` URI (credentials allowed, never logged)", required = true) String uri) {
    }
}
