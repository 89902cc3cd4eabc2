package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.TableColumns;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableHandover;
import dev.changepipe.spi.TableTruncate;
import java.util.Collection;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Writes change items into ClickHouse over HTTP with the official Java client (DESIGN.md sections 5
 * and 8; docs/clickhouse-sink.md).
 *
 * <p><b>Mapping.</b> Each source table goes to a ClickHouse table ({@code app.model -> app_model}
 * unless configured). The target's columns are read from {@code system.columns} on first use; each
 * value is converted to its column's type; a missing value takes the column's default; a field with no
 * column is ignored (logged once per table and field); a field {@code question} with no column of that
 * name goes to {@code question_id} when that exists (Django foreign keys).
 *
 * <p><b>Checks.</b> Before its first write into a table the sink checks that the table's engine and
 * columns fit the table's {@link WriteMode} ({@code ReplacingMergeTree(version)} with a 64-bit version
 * and a deleted flag; {@code CollapsingMergeTree(sign)} with a signed sign and a 64-bit version; a
 * {@code Distributed} table through to its local table). A table that does not fit is refused with a
 * permanent {@link ClickHouseWriteException} that names it, says what is wrong and prints the
 * statements that migrate it; nothing is written.
 *
 * <p><b>Writes.</b> {@link #write} is called one chunk at a time (the {@link Sink} contract). The
 * chunk's items are grouped by table, converted (a value that does not convert fails the write with a
 * permanent {@link ClickHouseWriteException} naming table, column, value and key, before anything is
 * sent) and streamed as batched inserts. The returned {@code Mono} completes once ClickHouse confirmed
 * every insert. Writes are idempotent under replay; see {@link WriteMode}.
 *
 * <p><b>Faults.</b> Transient faults (connection refused or reset, timeouts, HTTP 5xx without a
 * ClickHouse error, "too many parts" and similar codes) are retried with exponential backoff and
 * jitter until {@link ClickHouseSinkOptions#retryDeadline()}, failing over between endpoints; then the
 * write fails with a retryable {@link ClickHouseWriteException}. Permanent faults fail at once.
 *
 * <p><b>Handover.</b> As a {@link TableHandover}, it tells a command that hands tables between another
 * writer (django-clickhouse) and this service whether they fit ({@link #checkTables}) and which
 * statements the other writer's version-less inserts need ({@link #versionDefaultAbove}).
 *
 * <p><b>Truncate.</b> As a {@link TableTruncate}, a replacing-mode table applies a source's truncate as
 * {@code ALTER TABLE ... DELETE WHERE version < bound} (a mutation ClickHouse finishes in the
 * background); other modes refuse it.
 *
 * <p><b>New columns.</b> As a {@link TableColumns}, a table the sink creates ({@code create}) gains a
 * source table's new columns ({@code ALTER TABLE ... ADD COLUMN name Nullable(type)}); for another table
 * it refuses with the statement to run.
 *
 * <p><b>Threading.</b> Blocking client calls run on Reactor's bounded-elastic scheduler; no caller
 * thread is blocked. Cancelling the {@code Mono} abandons the write (the chunk is written again after a
 * restart, which replays are built for).
 */
public interface ClickHouseSink extends Sink, TableHandover, TableDigest, TableTruncate, TableColumns {

    /** A sink with these options; connects lazily, on the first write. */
    static ClickHouseSink create(ClickHouseSinkOptions options) {
        return new ClickHouseWriter(options, new Endpoints(options));
    }

    /** The options this sink was built with. */
    ClickHouseSinkOptions options();

    /**
     * Checks, without writing, the target tables of these source tables as the first write into each
     * would: that they exist (or are to be created by the sink, which this does not do) and that their
     * engine and columns fit the table's {@link WriteMode}. Completes empty when all fit; otherwise fails
     * with one {@link ClickHouseWriteException} per table that does not (the others suppressed into the
     * first), each naming its table and printing the statements that migrate it.
     */
    Mono<Void> checkTables(Collection<String> sourceTables);

    /**
     * The statement that gives the version column of a source table's replacing target table a default
     * above every version in it, so that rows inserted without a version (django-clickhouse's, after the
     * sync was handed back to it) win over the rows this sink wrote, and among themselves the row inserted
     * last wins, as in django-clickhouse's own {@code ReplacingMergeTree()}. Empty for a table written in
     * another mode (collapsing: django-clickhouse picks its versions itself). Reads the table; writes
     * nothing.
     */
    Mono<String> versionDefaultAbove(String sourceTable);

    /**
     * The refusals of {@link #checkTables}, one problem each, or else one finding per source table:
     * {@code table <database>.<table> fits (<mode>)}.
     */
    @Override
    default Mono<List<Finding>> takeOver(Collection<String> sourceTables) {
        return TableHandovers.findings(this, sourceTables, null);
    }

    /**
     * The refusals of {@link #checkTables}, one problem each, or else one finding per source table: for a
     * replacing table, that {@code writer}'s inserts carry no version, with the statement of
     * {@link #versionDefaultAbove} to run; for another, that it fits.
     */
    @Override
    default Mono<List<Finding>> handBack(Collection<String> sourceTables, String writer) {
        return TableHandovers.findings(this, sourceTables, java.util.Objects.requireNonNull(writer, "writer"));
    }
}
