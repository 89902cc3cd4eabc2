package dev.changepipe.sink.postgres;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.spi.Connection;
import dev.changepipe.spi.Key;
import java.util.Map;

/** The keys of a {@code type: postgres} sink section (docs/options.md is generated from them). */
record PostgresSinkConfig(
        @Key(value = "the PostgreSQL to write to", required = true, connection = Server.class) String connection,
        @Key("the schema of the target tables") String schema,
        @Key("the column holding each row's version (newer versions win, older ones are skipped)") String versionColumn,
        @Key("add `versionColumn` to a table that lacks it") Boolean addVersionColumn,
        @Key("a field with no column is an error (else it is skipped, and logged once)") Boolean strictColumns,
        @Key(value = "source table: target table", defaultText = "the source table's name") Map<String, String> tables,
        @Key(value = "connections to the server", min = 1, max = 1000) Integer maxPoolSize,
        @Key(value = "retries of a write that failed with a transient fault", min = 0, max = 1000) Integer maxRetries,
        @Key("a value the target cannot take: `dead-letter` (the pipeline's dead letters) or `fail` the write")
        OnBadRecord onBadRecord,
        @Key("the sink's name in metrics and dead letters") String name) {

    PostgresSinkConfig {
        schema = schema == null ? PostgresSinkOptions.DEFAULT_SCHEMA : schema;
        versionColumn = versionColumn == null ? PostgresSinkOptions.DEFAULT_VERSION_COLUMN : versionColumn;
        addVersionColumn = addVersionColumn == null ? PostgresSinkOptions.DEFAULT_ADD_VERSION_COLUMN : addVersionColumn;
        strictColumns = strictColumns == null ? PostgresSinkOptions.DEFAULT_STRICT_COLUMNS : strictColumns;
        tables = tables == null ? Map.of() : tables;
        maxPoolSize = maxPoolSize == null ? PostgresSinkOptions.DEFAULT_MAX_POOL_SIZE : maxPoolSize;
        maxRetries = maxRetries == null ? PostgresSinkOptions.DEFAULT_MAX_RETRIES : maxRetries;
        onBadRecord = onBadRecord == null ? OnBadRecord.DEAD_LETTER : onBadRecord;
        name = name == null ? PostgresSinkOptions.DEFAULT_NAME : name;
    }

    /** {@code connections.postgres.<name>}. */
    @Connection("postgres")
    record Server(@Key(value = "an `r2dbc:postgresql://` URL (its password is never logged)", required = true) String url) {
    }
}
