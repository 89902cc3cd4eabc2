package dev.changepipe.sink.postgres;

import dev.changepipe.core.Chunk;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import io.r2dbc.pool.ConnectionPool;
import io.r2dbc.pool.ConnectionPoolConfiguration;
import io.r2dbc.postgresql.PostgresqlConnectionFactoryProvider;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryOptions;
import java.util.List;
import java.util.Objects;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.verify.PostgresTableDigest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.util.retry.Retry;

/**
 * A sink that applies a change stream to a PostgreSQL database (for example a central Django
 * instance's), over pooled R2DBC.
 *
 * <pre>{@code
 * Sink sink = PostgresSink.create(PostgresSinkOptions.builder()
 *         .url("r2dbc:postgresql://replicator:secret@central:5432/app")
 *         .build());
 * }</pre>
 *
 * <p><b>What a write does.</b> Each chunk, or each batch of chunks handed to {@link #writeBatch} (group
 * commit), is applied in one transaction, each key's changes in order,
 * ending as applying the items one by one would (statements group the rows of a table; see
 * {@code docs/postgres-sink.md}). A save
 * (insert or update) is an {@code INSERT ... ON CONFLICT (key) DO UPDATE} that takes effect only when
 * the item's version is newer than the one stored in the row's version column, and only when no delete
 * of that key with the same or a newer version was recorded. A delete removes the row by key unless
 * the row holds a newer version, and records its version in the tombstone table, so that a late replay
 * of an older save does not bring the row back. Replaying items therefore changes nothing, and a
 * delete followed by a save of a new key with the same unique value (the Django pattern) applies in
 * order within and across chunks.
 *
 * <p><b>Mapping</b> (Django conventions): source table {@code app.model} is target table
 * {@code app_model} in the configured schema; a field maps to the column of its name, or else to
 * {@code <field>_id} (a foreign key); the key's fields are the conflict target and must be the
 * primary key or another unique constraint. Columns and types come from {@code information_schema}
 * when a table is first written and whenever a write failed. Values are converted to the column types
 * (integers, numeric, floats, booleans, text, uuid, timestamptz and timestamp from ISO-8601 strings,
 * date, time, json and jsonb, bytea from base64, arrays from lists; other types as text, cast by the
 * server). {@link PostgresSinkOptions.Builder#table} and {@link PostgresSinkOptions.Builder#column}
 * override the mapping per table.
 *
 * <p><b>Bad records.</b> An item refused for its own content (an unknown table, a value that does not
 * convert, a field with no column with {@code strictColumns}, a row the server refuses with SQLSTATE
 * class 22 or 23: NOT NULL, CHECK, unique, foreign key) becomes a dead letter in
 * {@link PostgresSinkOptions#deadLetters()} and the rest of the write is committed; the write completes
 * once the letters are durable. With {@link dev.changepipe.core.OnBadRecord#FAIL} or without a store
 * it fails the write as below.
 *
 * <p><b>Errors.</b> Refused items (without dead letters) and any other permanent database error (a
 * missing schema) fail the write with a non-retryable {@link dev.changepipe.core.SinkException}
 * before or without committing anything of it. Transient faults (a lost connection, a serialization failure, a
 * deadlock, a server restarting) roll the transaction back and the chunk is written again, up to
 * {@code maxRetries} times with exponential backoff; then the last error is signalled.
 *
 * <p><b>Threading and ownership</b> follow {@link Sink}: one write at a time, from any thread; the
 * chunk is not kept after the write. The sink holds no thread while waiting for the database.
 * Cancelling a write rolls its transaction back. {@link #close()} closes the pool the sink created
 * (not a connection factory handed in).
 */
public final class PostgresSink implements Sink, TableDigest {

    private final List<java.util.function.Consumer<Throwable>> retryListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();

    private static final Logger log = LoggerFactory.getLogger(PostgresSink.class);

    private final PostgresSinkOptions options;
    private final ChangeWriter writer;
    private final ConnectionPool ownedPool;
    /** What verify reads of the target tables; null without connections (a test's writer). */
    private final TableDigest digests;

    PostgresSink(PostgresSinkOptions options, ChangeWriter writer, ConnectionPool ownedPool) {
        this(options, writer, ownedPool, null);
    }

    private PostgresSink(PostgresSinkOptions options, ChangeWriter writer, ConnectionPool ownedPool,
            ConnectionFactory connections) {
        this.options = Objects.requireNonNull(options, "options");
        this.writer = Objects.requireNonNull(writer, "writer");
        this.ownedPool = ownedPool;
        this.digests = connections == null ? null : new PostgresTableDigest(connections, sourceTable -> {
            TableOverride override = options.override(sourceTable);
            return options.schema() + "." + (override.targetTable() != null ? override.targetTable()
                    : TargetTable.conventionalName(sourceTable));
        }, Set.of(options.versionColumn()));
    }

    /**
     * A sink connecting to {@link PostgresSinkOptions#url()} through a pool of at most
     * {@code maxPoolSize} connections, which {@link #close()} closes. Connects lazily, on the first
     * write.
     */
    public static PostgresSink create(PostgresSinkOptions options) {
        Objects.requireNonNull(options, "options");
        if (options.url() == null) {
            throw new IllegalArgumentException("url must be set (or use create(options, connectionFactory))");
        }
        ConnectionFactoryOptions parsed = ConnectionFactoryOptions.parse(options.url());
        ConnectionFactory factory = new PostgresqlConnectionFactoryProvider().create(parsed);
        ConnectionPool pool = new ConnectionPool(ConnectionPoolConfiguration.builder(factory)
                .name("changepipe-" + options.name())
                .initialSize(0)
                .maxSize(options.maxPoolSize())
                .build());
        return new PostgresSink(options, new TransactionalChangeWriter(pool, options), pool, pool);
    }

    /**
     * A sink that takes its connections from {@code connections} (a pool, preferably); the sink does
     * not close it. {@link PostgresSinkOptions#url()} is ignored.
     */
    public static PostgresSink create(PostgresSinkOptions options, ConnectionFactory connections) {
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(connections, "connections");
        return new PostgresSink(options, new TransactionalChangeWriter(connections, options), null, connections);
    }

    @Override
    public String name() {
        return options.name();
    }

    /** The options the sink was built with. */
    public PostgresSinkOptions options() {
        return options;
    }

    /**
     * Applies the chunk's items in one transaction, each key's changes in order; completes once it
     * committed (and the dead letters of the items it refused are durable). Retries transient faults
     * (see the class description).
     */
    @Override
    public Mono<Void> write(Chunk chunk) {
        return writeBatch(List.of(chunk));
    }

    /**
     * Group commit: applies the items of every chunk of the batch, in push order, in one transaction;
     * completes once it committed (and the dead letters are durable). Retries transient faults.
     */
    @Override
    public void onRetry(java.util.function.Consumer<Throwable> listener) {
        retryListeners.add(listener);
    }

    @Override
    public Mono<Void> writeBatch(List<Chunk> batch) {
        if (batch.stream().allMatch(chunk -> chunk.items().isEmpty())) {
            return Mono.empty();
        }
        String what = batch.size() == 1 ? "chunk " + batch.get(0) : "batch of " + batch.size() + " chunks from " + batch.get(0);
        return Mono.defer(() -> writer.write(batch))
                .retryWhen(Retry.backoff(options.maxRetries(), options.retryMinBackoff())
                        .maxBackoff(options.retryMaxBackoff())
                        .filter(PipelineException::isRetryable)
                        .doBeforeRetry(signal -> {
                            retryListeners.forEach(l -> l.accept(signal.failure()));
                            log.warn("sink {}: writing {} failed (attempt {}), retrying: {}",
                                    options.name(), what, signal.totalRetries() + 1, signal.failure().getMessage());
                        })
                        .onRetryExhaustedThrow((spec, signal) -> signal.failure()));
    }

    /**
     * Verify's view of a target table ({@link TableDigest}, docs/verify.md): every row is live (a delete
     * removes it); the columns are compared by their own types; the version column is left out.
     */
    @Override
    public Mono<Target> target(String sourceTable) {
        return digests().target(sourceTable);
    }

    @Override
    public Mono<Map<Integer, Digest>> buckets(String sourceTable, Shape shape) {
        return digests().buckets(sourceTable, shape);
    }

    @Override
    public Mono<Map<String, Long>> hashes(String sourceTable, Shape shape, Set<Integer> buckets) {
        return digests().hashes(sourceTable, shape, buckets);
    }

    @Override
    public Mono<Map<String, String>> rows(String sourceTable, Shape shape, Collection<String> keys) {
        return digests().rows(sourceTable, shape, keys);
    }

    private TableDigest digests() {
        if (digests == null) {
            throw new IllegalStateException("sink " + name() + " has no connections to read its tables with");
        }
        return digests;
    }

    /** Closes the pool this sink created; a connection factory handed in is left open. */
    @Override
    public Mono<Void> close() {
        return ownedPool == null ? Mono.empty() : ownedPool.disposeLater();
    }

    @Override
    public String toString() {
        return "PostgresSink[" + options + "]";
    }
}
