package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.spi.Connection;
import dev.changepipe.spi.Key;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** The keys of a {@code type: clickhouse} sink section (docs/options.md is generated from them). */
record ClickHouseConfig(
        @Key(value = "the ClickHouse server", required = true, connection = Server.class) String connection,
        @Key(value = "the database of the target tables", defaultText = "the connection's") String database,
        @Key("how changes become rows (per table: `tables.<table>.mode`)") WriteMode mode,
        @Key("the insert format") InsertFormat format,
        @Key("LZ4-compress the inserts") Boolean compression,
        @Key(value = "create tables `ON CLUSTER` this cluster", defaultText = "none") String cluster,
        @Key("how long a failing write is retried after its first attempt") Duration retryDeadline,
        @Key(value = "threads encoding rows", min = 1, max = 64, defaultText = "processors, at most 4")
        Integer encodeThreads,
        @Key(value = "keys per read-back query of the collapsing mode and of replacing-mode tombstones", min = 1,
                max = ClickHouseSinkProvider.MAX_KEYS_PER_LOOKUP)
        Integer keysPerLookup,
        @Key("the version column (replacing mode)") String versionColumn,
        @Key("the deleted-flag column (replacing mode)") String deletedColumn,
        @Key("the sign column (collapsing mode)") String signColumn,
        @Key("a value the target cannot take: `dead-letter` (the pipeline's dead letters) or `fail` the write")
        OnBadRecord onBadRecord,
        @Key("per source table") Map<String, Table> tables,
        @Key("the sink's name in metrics and dead letters") String name) {

    ClickHouseConfig {
        mode = mode == null ? ClickHouseSinkOptions.DEFAULT_MODE : mode;
        format = format == null ? ClickHouseSinkOptions.DEFAULT_FORMAT : format;
        compression = compression != null && compression;
        retryDeadline = retryDeadline == null ? ClickHouseSinkOptions.DEFAULT_RETRY_DEADLINE : retryDeadline;
        encodeThreads = encodeThreads == null ? ClickHouseSinkOptions.DEFAULT_ENCODE_THREADS : encodeThreads;
        keysPerLookup = keysPerLookup == null ? ClickHouseSinkOptions.DEFAULT_KEYS_PER_LOOKUP : keysPerLookup;
        versionColumn = versionColumn == null ? ClickHouseSinkOptions.DEFAULT_VERSION_COLUMN : versionColumn;
        deletedColumn = deletedColumn == null ? ClickHouseSinkOptions.DEFAULT_DELETED_COLUMN : deletedColumn;
        signColumn = signColumn == null ? ClickHouseSinkOptions.DEFAULT_SIGN_COLUMN : signColumn;
        onBadRecord = onBadRecord == null ? OnBadRecord.DEAD_LETTER : onBadRecord;
        tables = tables == null ? Map.of() : tables;
        name = name == null ? ClickHouseSinkOptions.DEFAULT_NAME : name;
    }

    /** One source table. */
    record Table(
            @Key(value = "the target table", defaultText = "the source table's name") String target,
            @Key(value = "this table's write mode", defaultText = "the sink's `mode`") WriteMode mode,
            @Key(value = "create the table when it is missing", defaultText = "none: it must exist") Create create,
            @Key(value = "the `PARTITION BY` of a created table", defaultText = "none") String partitionBy) {
    }

    /** A table the sink creates when it is missing. */
    record Create(
            @Key(value = "the columns, each `name Type`", required = true) List<String> columns,
            @Key(value = "the key columns (`ORDER BY`)", required = true) List<String> orderBy,
            @Key(value = "with `cluster`: create a `Replicated` table on every node (`<target>_local`) and a"
                    + " `Distributed` table over them, sharded by this expression (the key columns, or a hash of them)",
                    defaultText = "none: one table of the mode's engine on every node") String shardBy) {
    }

    /** {@code connections.clickhouse.<name>}. */
    @Connection("clickhouse")
    record Server(
            @Key(value = "`http(s)://host:port` URLs without credentials; the first that answers is used",
                    required = true)
            List<String> endpoints,
            @Key("the user") String user,
            @Key(value = "the password (never logged)", defaultText = "empty") String password,
            @Key("the default database") String database,
            @Key(value = "a cluster's shards in `remote_servers` order, each a list of its replicas' URLs: a sink with"
                    + " `cluster` then writes a table created with `shardBy` (one `UInt` column) straight to its shards'"
                    + " `<target>_local` tables, each row to the shard the `Distributed` table would send it to, each"
                    + " shard to the first of its replicas that answers",
                    defaultText = "none: through the `Distributed` table") List<List<String>> shards) {

        Server {
            endpoints = endpoints == null ? List.of() : endpoints;
            shards = shards == null ? List.of() : shards;
            user = user == null ? ClickHouseSinkOptions.DEFAULT_USERNAME : user;
            password = password == null ? "" : password;
            database = database == null ? ClickHouseSinkOptions.DEFAULT_DATABASE : database;
        }
    }
}
