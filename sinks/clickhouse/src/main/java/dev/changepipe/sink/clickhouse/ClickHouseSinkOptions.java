package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.OnBadRecord;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything the ClickHouse sink needs. Immutable; build with {@link #builder()}, which validates and
 * names the offending option. {@link #toString()} never shows the password.
 *
 * @param name the sink's name in logs, errors and metrics
 * @param endpoints HTTP endpoints ({@code http://host:8123}); writes go to the first that answers and
 *     fail over to the next on a connection or server fault
 * @param username the ClickHouse user
 * @param password its password (never logged)
 * @param database the database every table lives in (named in the SQL, never via a header)
 * @param tables per source table ({@code app.model}) options; a table not listed uses the defaults
 * @param defaultMode the write mode of tables without their own
 * @param versionColumn the {@code UInt64} column that receives {@code ChangeItem.version()}
 * @param deletedColumn the {@code UInt8} column set to 1 on tombstones (replacing mode)
 * @param signColumn the {@code Int8} sign column (collapsing mode)
 * @param originColumn the {@code String} column naming the origin of the chunk a row came from
 *     (append mode on servers without insert deduplication tokens)
 * @param offsetColumn the {@code UInt64} column with the offset of the chunk a row came from (same)
 * @param rowColumn the {@code UInt32} column with the row's ordinal among its chunk's rows of the table
 *     (same)
 * @param format the insert format
 * @param compression whether request bodies are LZ4-compressed by the client
 * @param cluster the cluster for {@code ON CLUSTER} in table creation, or {@code null}
 * @param shards with {@code cluster}: its shards in {@code remote_servers} order, each the HTTP
 *     endpoints of its replicas; a table created with {@code shardBy} is then written straight to its
 *     shards' local tables, each row to the shard the {@code Distributed} table would send it to. Empty:
 *     written through the {@code Distributed} table
 * @param minBackoff the first delay before retrying a transient fault
 * @param maxBackoff the longest delay between retries
 * @param jitter the random fraction (0..1) of each delay
 * @param retryDeadline how long one write keeps retrying transient faults before failing
 * @param connectTimeout how long to wait for a connection
 * @param socketTimeout how long to wait for data on a connection (bounds one request)
 * @param keysPerLookup how many keys one read-back query names at most (the collapsing mode's previous
 *     rows, the replacing mode's tombstone values)
 * @param encodeThreads how many slices of a large insert are converted and encoded at once on
 *     Reactor's parallel scheduler while the request streams; 1 converts on the sending thread only
 * @param onBadRecord what happens to an item the sink refuses for its own content (a value that does
 *     not convert, an unknown table the sink does not create)
 * @param deadLetters where such items go with {@link OnBadRecord#DEAD_LETTER}, or {@code null}: then
 *     they fail the write as with {@link OnBadRecord#FAIL}
 * @param collapsingCacheKeys how many keys of collapsing tables the sink remembers at most (the version
 *     and visible row it last wrote for each, least recently used first out), so that a key written
 *     again is not read back; 0 turns the cache off. Assumes this sink is the only writer of those keys
 *     (see docs/clickhouse-sink.md)
 * @param collapsingCacheBytes the estimated heap those remembered rows may take at most
 */
public record ClickHouseSinkOptions(String name, List<String> endpoints, String username, String password,
        String database, Map<String, TableOptions> tables, WriteMode defaultMode, String versionColumn,
        String deletedColumn, String signColumn, String originColumn, String offsetColumn, String rowColumn,
        InsertFormat format, boolean compression, String cluster, List<List<String>> shards,
        Duration minBackoff, Duration maxBackoff, double jitter, Duration retryDeadline,
        Duration connectTimeout, Duration socketTimeout, int keysPerLookup, int encodeThreads,
        OnBadRecord onBadRecord, DeadLetterStore deadLetters, int collapsingCacheKeys, long collapsingCacheBytes) {

    public static final String DEFAULT_NAME = "clickhouse";
    public static final String DEFAULT_USERNAME = "default";
    public static final String DEFAULT_DATABASE = "default";
    public static final WriteMode DEFAULT_MODE = WriteMode.REPLACING;
    public static final String DEFAULT_VERSION_COLUMN = "version";
    public static final String DEFAULT_DELETED_COLUMN = "is_deleted";
    public static final String DEFAULT_SIGN_COLUMN = "sign";
    public static final String DEFAULT_ORIGIN_COLUMN = "changepipe_origin";
    public static final String DEFAULT_OFFSET_COLUMN = "changepipe_offset";
    public static final String DEFAULT_ROW_COLUMN = "changepipe_row";
    public static final InsertFormat DEFAULT_FORMAT = InsertFormat.ROW_BINARY;
    public static final Duration DEFAULT_MIN_BACKOFF = Duration.ofMillis(100);
    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(10);
    public static final double DEFAULT_JITTER = 0.5;
    public static final Duration DEFAULT_RETRY_DEADLINE = Duration.ofMinutes(5);
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final Duration DEFAULT_SOCKET_TIMEOUT = Duration.ofMinutes(5);
    public static final int DEFAULT_KEYS_PER_LOOKUP = 1000;
    public static final int DEFAULT_ENCODE_THREADS = Math.min(4, Runtime.getRuntime().availableProcessors());
    /** Sized for a 256 MiB heap: 100k keys of rows of a few hundred bytes. */
    public static final int DEFAULT_COLLAPSING_CACHE_KEYS = 100_000;
    public static final long DEFAULT_COLLAPSING_CACHE_BYTES = 32L << 20;

    public ClickHouseSinkOptions {
        require(name != null && !name.isBlank(), "name", "must not be blank");
        require(endpoints != null && !endpoints.isEmpty(), "endpoints", "at least one is needed");
        endpoints = List.copyOf(endpoints);
        for (String e : endpoints) {
            require(e.startsWith("http://") || e.startsWith("https://"), "endpoints",
                    "'" + e.replaceAll("//[^/@]*@", "//***@") + "' is not an http(s):// URL");
            require(!e.substring(e.indexOf("//") + 2).contains("@"), "endpoints",
                    "must not carry credentials (they would be logged): use credentials(user, password)");
        }
        require(username != null && !username.isEmpty(), "username", "must not be empty");
        password = password == null ? "" : password;
        require(database != null && !database.isBlank(), "database", "must not be blank");
        tables = tables == null ? Map.of() : Map.copyOf(tables);
        Objects.requireNonNull(defaultMode, "defaultMode");
        require(versionColumn != null && !versionColumn.isBlank(), "versionColumn", "must not be blank");
        require(deletedColumn != null && !deletedColumn.isBlank(), "deletedColumn", "must not be blank");
        require(signColumn != null && !signColumn.isBlank(), "signColumn", "must not be blank");
        require(originColumn != null && !originColumn.isBlank(), "originColumn", "must not be blank");
        require(offsetColumn != null && !offsetColumn.isBlank(), "offsetColumn", "must not be blank");
        require(rowColumn != null && !rowColumn.isBlank(), "rowColumn", "must not be blank");
        require(new java.util.HashSet<>(List.of(originColumn, offsetColumn, rowColumn)).size() == 3, "originColumn/offsetColumn/rowColumn",
                "must be three different columns");
        Objects.requireNonNull(format, "format");
        require(cluster == null || !cluster.isBlank(), "cluster", "must not be blank when set");
        tables.forEach((table, t) -> require(cluster != null || t.shardBy() == null, "tables." + table + ".create.shardBy",
                "creates a Replicated and a Distributed table ON CLUSTER: set the sink's cluster"));
        shards = shards == null ? List.of() : shards.stream().map(List::copyOf).toList();
        require(shards.isEmpty() || cluster != null, "shards", "writes a cluster's shards: set the sink's cluster");
        for (List<String> replicas : shards) {
            require(!replicas.isEmpty(), "shards", "each shard needs the endpoint of one replica at least");
            for (String e : replicas) {
                require(e.startsWith("http://") || e.startsWith("https://"), "shards",
                        "'" + e.replaceAll("//[^/@]*@", "//***@") + "' is not an http(s):// URL");
                require(!e.substring(e.indexOf("//") + 2).contains("@"), "shards",
                        "must not carry credentials (they would be logged): use credentials(user, password)");
            }
        }
        require(minBackoff != null && !minBackoff.isNegative() && !minBackoff.isZero(), "minBackoff", "must be positive");
        require(maxBackoff != null && maxBackoff.compareTo(minBackoff) >= 0, "maxBackoff", "must be at least minBackoff");
        require(jitter >= 0 && jitter <= 1, "jitter", "must be between 0 and 1");
        require(retryDeadline != null && !retryDeadline.isNegative(), "retryDeadline", "must not be negative");
        require(connectTimeout != null && !connectTimeout.isNegative() && !connectTimeout.isZero(),
                "connectTimeout", "must be positive");
        require(socketTimeout != null && !socketTimeout.isNegative() && !socketTimeout.isZero(),
                "socketTimeout", "must be positive");
        require(keysPerLookup > 0, "keysPerLookup", "must be positive");
        require(encodeThreads > 0, "encodeThreads", "must be positive");
        require(collapsingCacheKeys >= 0, "collapsingCacheKeys", "must not be negative (0 turns the cache off)");
        require(collapsingCacheBytes >= 0, "collapsingCacheBytes", "must not be negative (0 turns the cache off)");
    }

    private static void require(boolean ok, String option, String what) {
        if (!ok) {
            throw new IllegalArgumentException(option + ": " + what);
        }
    }

    /** The options of a source table: its own, or the defaults. */
    public TableOptions table(String sourceTable) {
        return tables.getOrDefault(sourceTable, TableOptions.builder().build());
    }

    /** The ClickHouse table of a source table: its configured target, else {@code app.model -> app_model}. */
    public String targetTable(String sourceTable) {
        TableOptions t = tables.get(sourceTable);
        if (t != null && t.target() != null) {
            return t.target();
        }
        return sourceTable.replace('.', '_');
    }

    /** The write mode of a source table. */
    public WriteMode mode(String sourceTable) {
        TableOptions t = tables.get(sourceTable);
        return t != null && t.mode() != null ? t.mode() : defaultMode;
    }

    @Override
    public String toString() {
        return "ClickHouseSinkOptions[name=" + name + ", endpoints=" + endpoints + ", username=" + username
                + ", password=" + (password.isEmpty() ? "(none)" : "(hidden)") + ", database=" + database
                + ", tables=" + tables + ", defaultMode=" + defaultMode + ", format=" + format
                + ", compression=" + compression + ", cluster=" + cluster + ", shards=" + shards + ", retryDeadline="
                + retryDeadline + "]";
    }

    /** A builder with every option at its {@code DEFAULT_*}; endpoints must be given. */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link ClickHouseSinkOptions}. Not thread-safe. */
    public static final class Builder {
        private String name = DEFAULT_NAME;
        private List<String> endpoints = List.of();
        private String username = DEFAULT_USERNAME;
        private String password = "";
        private String database = DEFAULT_DATABASE;
        private final Map<String, TableOptions> tables = new LinkedHashMap<>();
        private WriteMode defaultMode = DEFAULT_MODE;
        private String versionColumn = DEFAULT_VERSION_COLUMN;
        private String deletedColumn = DEFAULT_DELETED_COLUMN;
        private String signColumn = DEFAULT_SIGN_COLUMN;
        private String originColumn = DEFAULT_ORIGIN_COLUMN;
        private String offsetColumn = DEFAULT_OFFSET_COLUMN;
        private String rowColumn = DEFAULT_ROW_COLUMN;
        private InsertFormat format = DEFAULT_FORMAT;
        private boolean compression;
        private String cluster;
        private List<List<String>> shards = List.of();
        private Duration minBackoff = DEFAULT_MIN_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private double jitter = DEFAULT_JITTER;
        private Duration retryDeadline = DEFAULT_RETRY_DEADLINE;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration socketTimeout = DEFAULT_SOCKET_TIMEOUT;
        private int keysPerLookup = DEFAULT_KEYS_PER_LOOKUP;
        private int encodeThreads = DEFAULT_ENCODE_THREADS;
        private OnBadRecord onBadRecord = OnBadRecord.DEAD_LETTER;
        private DeadLetterStore deadLetters;
        private int collapsingCacheKeys = DEFAULT_COLLAPSING_CACHE_KEYS;
        private long collapsingCacheBytes = DEFAULT_COLLAPSING_CACHE_BYTES;

        private Builder() {
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** One or more endpoints, tried in this order. */
        public Builder endpoints(String... endpoints) {
            this.endpoints = List.of(endpoints);
            return this;
        }

        public Builder endpoints(List<String> endpoints) {
            this.endpoints = endpoints;
            return this;
        }

        public Builder credentials(String username, String password) {
            this.username = username;
            this.password = password;
            return this;
        }

        public Builder database(String database) {
            this.database = database;
            return this;
        }

        /** Options for one source table ({@code app.model}). */
        /** What happens to an item the sink refuses for its own content; default {@code DEAD_LETTER}. */
        public Builder onBadRecord(OnBadRecord onBadRecord) {
            this.onBadRecord = Objects.requireNonNull(onBadRecord, "onBadRecord");
            return this;
        }

        /** The pipeline's dead-letter store; without one, a refused item fails the write. */
        public Builder deadLetters(DeadLetterStore deadLetters) {
            this.deadLetters = deadLetters;
            return this;
        }

        public Builder table(String sourceTable, TableOptions options) {
            tables.put(Objects.requireNonNull(sourceTable, "sourceTable"), Objects.requireNonNull(options, "options"));
            return this;
        }

        public Builder defaultMode(WriteMode defaultMode) {
            this.defaultMode = defaultMode;
            return this;
        }

        public Builder versionColumn(String versionColumn) {
            this.versionColumn = versionColumn;
            return this;
        }

        public Builder deletedColumn(String deletedColumn) {
            this.deletedColumn = deletedColumn;
            return this;
        }

        public Builder signColumn(String signColumn) {
            this.signColumn = signColumn;
            return this;
        }

        /**
         * The columns of an append table that name the chunk a row came from (origin {@code String},
         * offset {@code UInt64}) and the row's ordinal within it ({@code UInt32}); used on servers
         * without insert deduplication tokens to make replays idempotent.
         */
        public Builder chunkColumns(String originColumn, String offsetColumn, String rowColumn) {
            this.originColumn = originColumn;
            this.offsetColumn = offsetColumn;
            this.rowColumn = rowColumn;
            return this;
        }

        public Builder format(InsertFormat format) {
            this.format = format;
            return this;
        }

        /** LZ4-compress request bodies (off by default: loopback and LAN rarely gain). */
        public Builder compression(boolean compression) {
            this.compression = compression;
            return this;
        }

        public Builder cluster(String cluster) {
            this.cluster = cluster;
            return this;
        }

        /** The cluster's shards, each its replicas' endpoints: tables created with {@code shardBy} are written to them directly. */
        public Builder shards(List<List<String>> shards) {
            this.shards = shards;
            return this;
        }

        /** Exponential backoff between {@code min} and {@code max}, with a random {@code jitter} fraction. */
        public Builder backoff(Duration min, Duration max, double jitter) {
            this.minBackoff = min;
            this.maxBackoff = max;
            this.jitter = jitter;
            return this;
        }

        /** How long one write retries transient faults before failing; zero retries nothing. */
        public Builder retryDeadline(Duration retryDeadline) {
            this.retryDeadline = retryDeadline;
            return this;
        }

        public Builder timeouts(Duration connect, Duration socket) {
            this.connectTimeout = connect;
            this.socketTimeout = socket;
            return this;
        }

        public Builder keysPerLookup(int keysPerLookup) {
            this.keysPerLookup = keysPerLookup;
            return this;
        }

        /** Slices of a large insert converted and encoded at once (1: on the sending thread only). */
        public Builder encodeThreads(int encodeThreads) {
            this.encodeThreads = encodeThreads;
            return this;
        }

        /**
         * The collapsing mode's cache of the keys this sink wrote last: at most {@code maxKeys} keys and
         * about {@code maxBytes} of heap (both 0: off).
         */
        public Builder collapsingCache(int maxKeys, long maxBytes) {
            this.collapsingCacheKeys = maxKeys;
            this.collapsingCacheBytes = maxBytes;
            return this;
        }

        public ClickHouseSinkOptions build() {
            return new ClickHouseSinkOptions(name, endpoints, username, password, database, tables, defaultMode,
                    versionColumn, deletedColumn, signColumn, originColumn, offsetColumn, rowColumn, format, compression, cluster, shards, minBackoff,
                    maxBackoff, jitter, retryDeadline, connectTimeout, socketTimeout, keysPerLookup, encodeThreads,
                    onBadRecord, deadLetters, collapsingCacheKeys, collapsingCacheBytes);
        }
    }
}
