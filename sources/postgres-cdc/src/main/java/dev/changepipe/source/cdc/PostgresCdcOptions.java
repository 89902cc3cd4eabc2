package dev.changepipe.source.cdc;

import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.TableTruncate;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * How a {@link PostgresCdcSource} reads: the database, its tables, the slot and publication, and how
 * changes are cut into chunks.
 *
 * @param name the source's name in logs, metrics and dead letters
 * @param url an {@code r2dbc:postgresql://} URL of the database (its password is never logged)
 * @param tables the tables, {@code schema.table} or {@code table} (schema {@code public})
 * @param slot the logical replication slot (created with {@code pgoutput} when missing)
 * @param publication the publication of the tables
 * @param createPublication create the publication when missing and add the tables it lacks
 * @param snapshot copy each table once before streaming (the tables already copied are not copied again)
 * @param snapshotConnections how many tables (or key ranges of a large table) the snapshot copies at once,
 *     each on a connection of its own
 * @param snapshotRangeRows a table of more rows than this (estimated), keyed by one integer column, is copied
 *     in key ranges of about that many rows, several at once (with more than one connection)
 * @param chunkRows most changes per chunk (and per slice of a large transaction)
 * @param chunkBytes most bytes per chunk, as its rows take in memory (and per slice)
 * @param linger how long a chunk waits for more changes before it is emitted not full
 * @param statusInterval how often the stream tells the server its position (and keeps the connection alive)
 * @param heartbeat how often a heartbeat is written to the WAL, so that the slot's position moves while its
 *     tables are idle (zero: never; needs PostgreSQL 14)
 * @param checkpoints where the snapshot's progress is kept
 * @param deadLetters where a change that cannot be applied (a truncate) is recorded, or {@code null}
 * @param meterRegistry where the {@code changepipe_cdc_*} metrics go, or {@code null}
 * @param sinks the pipeline's sinks, asked while the source runs: a truncate is applied to each that is a
 *     {@link TableTruncate} and is a dead letter for the others
 */
public record PostgresCdcOptions(
        String name,
        String url,
        List<String> tables,
        String slot,
        String publication,
        boolean createPublication,
        boolean snapshot,
        int snapshotConnections,
        long snapshotRangeRows,
        int chunkRows,
        long chunkBytes,
        Duration linger,
        Duration statusInterval,
        Duration heartbeat,
        CheckpointStore checkpoints,
        DeadLetterStore deadLetters,
        MeterRegistry meterRegistry,
        Supplier<List<Sink>> sinks) {

    public static final int DEFAULT_CHUNK_ROWS = 5_000;
    /** Two tables at once: faster than one where there are cores to spare, and light on the server. */
    public static final int DEFAULT_SNAPSHOT_CONNECTIONS = 2;
    public static final long DEFAULT_SNAPSHOT_RANGE_ROWS = 1_000_000;
    /** With the pusher's default in-flight limit, a few chunks of large rows fit a 256 MiB heap. */
    public static final long DEFAULT_CHUNK_BYTES = 4L << 20;
    public static final Duration DEFAULT_LINGER = Duration.ofMillis(50);
    public static final Duration DEFAULT_STATUS_INTERVAL = Duration.ofSeconds(1);
    public static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(10);

    /** Slot and publication names: PostgreSQL's rule for slots, kept for both so they never need quoting. */
    private static final Pattern NAME = Pattern.compile("[a-z0-9_]{1,63}");

    public PostgresCdcOptions {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(url, "url");
        Objects.requireNonNull(checkpoints, "checkpoints");
        tables = List.copyOf(tables);
        if (tables.isEmpty()) {
            throw new IllegalArgumentException("a postgres-cdc source needs at least one table");
        }
        for (String table : tables) {
            TableName.parse(table);
        }
        requireName("slot", slot);
        requireName("publication", publication);
        if (snapshotConnections < 1) {
            throw new IllegalArgumentException("snapshotConnections must be positive, was " + snapshotConnections);
        }
        if (snapshotRangeRows < 1) {
            throw new IllegalArgumentException("snapshotRangeRows must be positive, was " + snapshotRangeRows);
        }
        if (chunkRows < 1) {
            throw new IllegalArgumentException("chunkRows must be positive, was " + chunkRows);
        }
        if (chunkBytes < 1) {
            throw new IllegalArgumentException("chunkBytes must be positive, was " + chunkBytes);
        }
        Objects.requireNonNull(linger, "linger");
        Objects.requireNonNull(statusInterval, "statusInterval");
        if (heartbeat == null || heartbeat.isNegative()) {
            throw new IllegalArgumentException("heartbeat must be zero or positive, was " + heartbeat);
        }
        sinks = sinks == null ? List::of : sinks;
    }

    private static void requireName(String what, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " name '" + value
                    + "' must be 1 to 63 lower-case letters, digits or underscores");
        }
    }

    /** The slot and publication name a pipeline gets by default: {@code changepipe_<pipeline>}. */
    public static String defaultName(String pipeline) {
        String cleaned = pipeline.toLowerCase().replaceAll("[^a-z0-9_]", "_");
        String name = "changepipe_" + cleaned;
        return name.length() > 63 ? name.substring(0, 63) : name;
    }

    /** Options with the defaults for everything but what must be given. */
    public static PostgresCdcOptions of(String name, String url, List<String> tables, CheckpointStore checkpoints) {
        String slot = defaultName(name);
        return new PostgresCdcOptions(name, url, tables, slot, slot, true, true, DEFAULT_SNAPSHOT_CONNECTIONS,
                DEFAULT_SNAPSHOT_RANGE_ROWS, DEFAULT_CHUNK_ROWS,
                DEFAULT_CHUNK_BYTES, DEFAULT_LINGER, DEFAULT_STATUS_INTERVAL, DEFAULT_HEARTBEAT, checkpoints, null, null, null);
    }

    @Override
    public String toString() {
        return "PostgresCdcOptions[name=" + name + ", tables=" + tables + ", slot=" + slot + ", publication="
                + publication + "]";
    }
}
