package dev.changepipe.sink.clickhouse;

/** How a table stores changes. See docs/clickhouse-sink.md for the table layouts and queries. */
public enum WriteMode {
    /**
     * {@code ReplacingMergeTree(version)} with an {@code is_deleted UInt8} column: every save is a row
     * with its version; a delete is a tombstone (key, version, {@code is_deleted = 1}). Read the
     * current state with {@code FINAL ... WHERE is_deleted = 0}. Replays are idempotent (same
     * versions, same rows). The default.
     */
    REPLACING,
    /**
     * {@code CollapsingMergeTree(sign)}, compatible with django-clickhouse: a save cancels the key's
     * current row (read back from ClickHouse, written again with {@code sign = -1}) and writes the new
     * row with {@code sign = 1}; a delete only cancels. A change whose version is not newer than the
     * key's current row is skipped, which makes replays idempotent.
     */
    COLLAPSING,
    /**
     * Plain {@code MergeTree}: every item is a row (a log of changes). Replays are idempotent through
     * insert deduplication tokens where the server has them; elsewhere every row carries its chunk
     * (origin, offset) and its ordinal in it, and only the rows of a chunk not in the table yet are
     * inserted (one {@code count()} query per chunk and table).
     */
    APPEND
}
