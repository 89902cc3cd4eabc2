package dev.changepipe.sink.clickhouse;

/** The format rows are sent in. Both are streamed; RowBinary is the default (measured faster). */
public enum InsertFormat {
    /** Binary, little-endian, no escaping; what the sink uses by default. */
    ROW_BINARY,
    /** Tab-separated text with ClickHouse's escaping. */
    TAB_SEPARATED
}
