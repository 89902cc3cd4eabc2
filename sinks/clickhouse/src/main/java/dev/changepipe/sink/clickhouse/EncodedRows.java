package dev.changepipe.sink.clickhouse;

import java.util.List;

/**
 * The rows of one table of a {@linkplain ClickHouseWriter#prepare prepared} chunk, encoded in RowBinary
 * for every column of {@code table} as it was described when they were encoded.
 *
 * @param table the writer whose columns the rows were encoded for
 * @param rows the encoded rows
 * @param count how many rows
 * @param shard the index of the shard they go to, when the table is written to its shards directly;
 *     -1 otherwise
 */
record EncodedRows(TableWriter table, byte[] rows, int count, int shard) {

    /** What one holds besides its rows: the record and the array's header. */
    static final long OVERHEAD_BYTES = 48;

    /** A prepared chunk's form ({@code Chunk.prepared()}): its rows, table by table in first-seen order. */
    record Prepared(List<EncodedRows> tables) {
    }
}
