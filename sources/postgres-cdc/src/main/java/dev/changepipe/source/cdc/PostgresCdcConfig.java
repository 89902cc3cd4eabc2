package dev.changepipe.source.cdc;

import dev.changepipe.spi.Connection;
import dev.changepipe.spi.DataSize;
import dev.changepipe.spi.Key;
import java.time.Duration;
import java.util.List;

/** The keys of a {@code type: postgres-cdc} section (docs/options.md is generated from them). */
record PostgresCdcConfig(
        @Key(value = "the PostgreSQL database whose changes are read (`wal_level=logical`, a user with REPLICATION)",
                required = true, connection = Postgres.class)
        String connection,
        @Key(value = "the tables: `table` (in `public`) or `schema.table`; each needs a primary key", required = true)
        List<String> tables,
        @Key(value = "the logical replication slot (created when missing)", defaultText = "`changepipe_<pipeline>`")
        String slot,
        @Key(value = "the publication of the tables", defaultText = "the slot's name") String publication,
        @Key("create the publication when missing, and add the tables it lacks") Boolean createPublication,
        @Key("copy each table once before its changes (a table added later is copied alone)") Boolean snapshot,
        @Key(value = "how many tables (or key ranges of a large table) the snapshot copies at once, each on a "
                + "connection of its own", min = 1, max = 64)
        Integer snapshotConnections,
        @Key(value = "a table of more rows than this (estimated), keyed by one integer column, is copied in key ranges "
                + "of about that many rows, several at once", min = 1) Long snapshotRangeRows,
        @Key(value = "most changes (or snapshot rows) per chunk", min = 1, max = 1_000_000) Integer chunkRows,
        @Key("most bytes per chunk, as its rows take in memory") DataSize chunkBytes,
        @Key("how long a chunk that is not full waits for more changes") Duration linger,
        @Key("how often the stream reports its confirmed position to the server") Duration statusInterval,
        @Key("how often a heartbeat is written to the WAL, so that the slot's position moves while its tables are "
                + "idle and the server frees the WAL of the others (`0s`: never; PostgreSQL 14 or later)") Duration heartbeat,
        @Key("not ready (`/health/ready`) while the slot lags more WAL than this behind the server") DataSize maxLag,
        @Key("compare the tables with the sinks' while the pipeline runs, on a schedule (docs/verify.md)")
        dev.changepipe.verify.VerifyConfig verify) {

    static final DataSize DEFAULT_MAX_LAG = DataSize.ofMebibytes(1024);

    PostgresCdcConfig {
        tables = tables == null ? List.of() : tables;
        createPublication = createPublication == null || createPublication;
        snapshot = snapshot == null || snapshot;
        snapshotConnections = snapshotConnections == null ? PostgresCdcOptions.DEFAULT_SNAPSHOT_CONNECTIONS : snapshotConnections;
        snapshotRangeRows = snapshotRangeRows == null ? PostgresCdcOptions.DEFAULT_SNAPSHOT_RANGE_ROWS : snapshotRangeRows;
        chunkRows = chunkRows == null ? PostgresCdcOptions.DEFAULT_CHUNK_ROWS : chunkRows;
        chunkBytes = chunkBytes == null ? DataSize.ofBytes(PostgresCdcOptions.DEFAULT_CHUNK_BYTES) : chunkBytes;
        linger = linger == null ? PostgresCdcOptions.DEFAULT_LINGER : linger;
        statusInterval = statusInterval == null ? PostgresCdcOptions.DEFAULT_STATUS_INTERVAL : statusInterval;
        maxLag = maxLag == null ? DEFAULT_MAX_LAG : maxLag;
        heartbeat = heartbeat == null ? PostgresCdcOptions.DEFAULT_HEARTBEAT : heartbeat;
    }

    /** {@code connections.postgres.<name>}. */
    @Connection("postgres")
    record Postgres(@Key(value = "an `r2dbc:postgresql://` URL (its password is never logged)", required = true) String url) {
    }
}
