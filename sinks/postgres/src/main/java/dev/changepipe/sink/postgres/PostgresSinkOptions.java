package dev.changepipe.sink.postgres;

import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.OnBadRecord;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of a {@link PostgresSink}. Immutable; build with {@link #builder()}, which checks every
 * value and names the option at fault. {@link #toString()} never shows the password.
 *
 * @param url the target as an R2DBC URL, {@code r2dbc:postgresql://user:password@host:port/database};
 *     may be {@code null} only when the sink is created with its own {@code ConnectionFactory}
 * @param schema the schema of the target tables
 * @param versionColumn the {@code bigint} column the sink keeps in every target table: the version of
 *     the change that wrote the row
 * @param addVersionColumn whether the sink adds {@code versionColumn} to a table that lacks it
 *     ({@code ALTER TABLE ... ADD COLUMN IF NOT EXISTS}); when false such a table is an error
 * @param tombstoneTable the table (in {@code schema}) where the sink records the version of every
 *     delete, created if missing
 * @param strictColumns whether a field with no column is an error; when false it is skipped (logged
 *     once per table and field)
 * @param tables overrides per source table ({@code app.model}), where the conventions do not fit
 * @param maxPoolSize the most connections the pool opens (one is used per chunk write; the others
 *     serve {@link PostgresSink#close()} and concurrent sinks sharing nothing)
 * @param maxRetries how often a chunk whose write failed with a transient fault (connection lost,
 *     serialization failure, deadlock) is written again before the sink gives up
 * @param retryMinBackoff the first retry's delay; each next one doubles, with jitter
 * @param retryMaxBackoff the longest delay between retries
 * @param name the sink's name, for logs and errors
 * @param onBadRecord what happens to an item the sink refuses for its own content (a value that does
 *     not convert or that the server refuses for that row: type, range, length, NOT NULL, CHECK,
 *     unique or foreign key of that row; a null key; an unknown table; with {@code strictColumns} a
 *     field with no column)
 * @param deadLetters where such items go with {@link OnBadRecord#DEAD_LETTER}, or {@code null}: then
 *     they fail the write as with {@link OnBadRecord#FAIL}
 */
public record PostgresSinkOptions(
        String url,
        String schema,
        String versionColumn,
        boolean addVersionColumn,
        String tombstoneTable,
        boolean strictColumns,
        Map<String, TableOverride> tables,
        int maxPoolSize,
        int maxRetries,
        Duration retryMinBackoff,
        Duration retryMaxBackoff,
        String name,
        OnBadRecord onBadRecord,
        DeadLetterStore deadLetters) {

    public static final String DEFAULT_SCHEMA = "public";
    public static final String DEFAULT_VERSION_COLUMN = "changepipe_version";
    public static final boolean DEFAULT_ADD_VERSION_COLUMN = true;
    public static final String DEFAULT_TOMBSTONE_TABLE = "changepipe_tombstones";
    public static final boolean DEFAULT_STRICT_COLUMNS = false;
    public static final int DEFAULT_MAX_POOL_SIZE = 4;
    public static final int DEFAULT_MAX_RETRIES = 10;
    public static final Duration DEFAULT_RETRY_MIN_BACKOFF = Duration.ofMillis(100);
    public static final Duration DEFAULT_RETRY_MAX_BACKOFF = Duration.ofSeconds(10);
    public static final String DEFAULT_NAME = "postgres";

    /** PostgreSQL truncates longer identifiers; refusing them keeps the mapping exact. */
    static final int MAX_IDENTIFIER_BYTES = 63;

    public PostgresSinkOptions {
        if (url != null && !url.startsWith("r2dbc:")) {
            throw new IllegalArgumentException("url must be an R2DBC URL (r2dbc:postgresql://...)");
        }
        schema = identifier("schema", schema);
        versionColumn = identifier("versionColumn", versionColumn);
        tombstoneTable = identifier("tombstoneTable", tombstoneTable);
        Objects.requireNonNull(tables, "tables");
        Map<String, TableOverride> copy = new LinkedHashMap<>();
        for (Map.Entry<String, TableOverride> e : tables.entrySet()) {
            if (e.getKey() == null || e.getKey().isBlank() || e.getValue() == null) {
                throw new IllegalArgumentException("tables: an override needs a source table and a mapping");
            }
            if (e.getValue().targetTable() != null) {
                identifier("tables[" + e.getKey() + "].targetTable", e.getValue().targetTable());
            }
            for (Map.Entry<String, String> c : e.getValue().columns().entrySet()) {
                identifier("tables[" + e.getKey() + "].columns[" + c.getKey() + "]", c.getValue());
                if (c.getValue().equals(versionColumn)) {
                    throw new IllegalArgumentException("tables[" + e.getKey() + "].columns[" + c.getKey()
                            + "] maps to the version column " + versionColumn);
                }
            }
            copy.put(e.getKey(), e.getValue());
        }
        tables = Collections.unmodifiableMap(copy);
        if (maxPoolSize < 1) {
            throw new IllegalArgumentException("maxPoolSize must be at least 1: " + maxPoolSize);
        }
        if (maxRetries < 0) {
            throw new IllegalArgumentException("maxRetries must not be negative: " + maxRetries);
        }
        positive("retryMinBackoff", retryMinBackoff);
        positive("retryMaxBackoff", retryMaxBackoff);
        if (retryMaxBackoff.compareTo(retryMinBackoff) < 0) {
            throw new IllegalArgumentException("retryMaxBackoff (" + retryMaxBackoff
                    + ") must not be shorter than retryMinBackoff (" + retryMinBackoff + ")");
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("name must not be blank");
        }
        Objects.requireNonNull(onBadRecord, "onBadRecord");
    }

    /** A builder with every default set; {@code url} must be given unless a connection factory is. */
    public static Builder builder() {
        return new Builder();
    }

    /** Whether refused items become dead letters (rather than failing the write). */
    boolean isolating() {
        return onBadRecord == OnBadRecord.DEAD_LETTER && deadLetters != null;
    }

    /** The override of a source table, or the conventions. */
    TableOverride override(String sourceTable) {
        return tables.getOrDefault(sourceTable, TableOverride.NONE);
    }

    @Override
    public String toString() {
        return "PostgresSinkOptions[url=" + redact(url) + ", schema=" + schema + ", versionColumn=" + versionColumn
                + ", addVersionColumn=" + addVersionColumn + ", tombstoneTable=" + tombstoneTable
                + ", strictColumns=" + strictColumns + ", tables=" + tables + ", maxPoolSize=" + maxPoolSize
                + ", maxRetries=" + maxRetries + ", retryMinBackoff=" + retryMinBackoff
                + ", retryMaxBackoff=" + retryMaxBackoff + ", name=" + name + ", onBadRecord=" + onBadRecord
                + ", deadLetters=" + (deadLetters == null ? "none" : deadLetters.pipeline()) + "]";
    }

    /** The URL with its password (between {@code :} and {@code @} of the authority) replaced. */
    static String redact(String url) {
        if (url == null) {
            return null;
        }
        int scheme = url.indexOf("://");
        int at = url.indexOf('@', scheme + 3);
        if (scheme < 0 || at < 0) {
            return url;
        }
        int colon = url.indexOf(':', scheme + 3);
        if (colon < 0 || colon > at) {
            return url;
        }
        return url.substring(0, colon + 1) + "***" + url.substring(at);
    }

    private static String identifier(String option, String value) {
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException(option + " must not be empty");
        }
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(option + " must not contain a NUL character");
        }
        if (value.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_IDENTIFIER_BYTES) {
            throw new IllegalArgumentException(option + " is longer than " + MAX_IDENTIFIER_BYTES
                    + " bytes, which PostgreSQL would truncate: " + value);
        }
        return value;
    }

    private static void positive(String option, Duration value) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(option + " must be positive: " + value);
        }
    }

    /** Builds {@link PostgresSinkOptions}; {@link #build()} checks the values. */
    public static final class Builder {
        private String url;
        private String schema = DEFAULT_SCHEMA;
        private String versionColumn = DEFAULT_VERSION_COLUMN;
        private boolean addVersionColumn = DEFAULT_ADD_VERSION_COLUMN;
        private String tombstoneTable = DEFAULT_TOMBSTONE_TABLE;
        private boolean strictColumns = DEFAULT_STRICT_COLUMNS;
        private final Map<String, TableOverride> tables = new LinkedHashMap<>();
        private int maxPoolSize = DEFAULT_MAX_POOL_SIZE;
        private int maxRetries = DEFAULT_MAX_RETRIES;
        private Duration retryMinBackoff = DEFAULT_RETRY_MIN_BACKOFF;
        private Duration retryMaxBackoff = DEFAULT_RETRY_MAX_BACKOFF;
        private String name = DEFAULT_NAME;
        private OnBadRecord onBadRecord = OnBadRecord.DEAD_LETTER;
        private DeadLetterStore deadLetters;

        private Builder() {
        }

        /** The target, {@code r2dbc:postgresql://user:password@host:port/database}. */
        public Builder url(String url) {
            this.url = url;
            return this;
        }

        /** The schema of the target tables; default {@code public}. */
        public Builder schema(String schema) {
            this.schema = schema;
            return this;
        }

        /** The version column the sink keeps in each target table; default {@code changepipe_version}. */
        public Builder versionColumn(String column) {
            this.versionColumn = column;
            return this;
        }

        /** Whether to add a missing version column to a target table; default true. */
        public Builder addVersionColumn(boolean add) {
            this.addVersionColumn = add;
            return this;
        }

        /** The table recording deletes; default {@code changepipe_tombstones}. */
        public Builder tombstoneTable(String table) {
            this.tombstoneTable = table;
            return this;
        }

        /** Whether a field with no column fails the write; default false (skipped, logged once). */
        public Builder strictColumns(boolean strict) {
            this.strictColumns = strict;
            return this;
        }

        /** Writes the source table ({@code app.model}) to this target table instead of {@code app_model}. */
        public Builder table(String sourceTable, String targetTable) {
            tables.put(sourceTable, tables.getOrDefault(sourceTable, TableOverride.NONE).withTargetTable(targetTable));
            return this;
        }

        /** Writes a field of the source table to this column instead of the conventional one. */
        public Builder column(String sourceTable, String field, String column) {
            tables.put(sourceTable, tables.getOrDefault(sourceTable, TableOverride.NONE).withColumn(field, column));
            return this;
        }

        /** The most connections; default 4. */
        public Builder maxPoolSize(int size) {
            this.maxPoolSize = size;
            return this;
        }

        /** Retries of a chunk after transient faults; default 10. */
        public Builder maxRetries(int retries) {
            this.maxRetries = retries;
            return this;
        }

        /** The first and the longest delay between retries; default 100 ms and 10 s. */
        public Builder retryBackoff(Duration min, Duration max) {
            this.retryMinBackoff = min;
            this.retryMaxBackoff = max;
            return this;
        }

        /** The sink's name for logs and errors; default {@code postgres}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /**
         * What happens to an item the sink refuses for its own content; default
         * {@link OnBadRecord#DEAD_LETTER} (when a {@link #deadLetters store} is set).
         */
        public Builder onBadRecord(OnBadRecord onBadRecord) {
            this.onBadRecord = Objects.requireNonNull(onBadRecord, "onBadRecord");
            return this;
        }

        /** Where refused items go; default none (they fail the write). */
        public Builder deadLetters(DeadLetterStore deadLetters) {
            this.deadLetters = deadLetters;
            return this;
        }

        public PostgresSinkOptions build() {
            return new PostgresSinkOptions(url, schema, versionColumn, addVersionColumn, tombstoneTable, strictColumns,
                    tables, maxPoolSize, maxRetries, retryMinBackoff, retryMaxBackoff, name, onBadRecord, deadLetters);
        }
    }
}
