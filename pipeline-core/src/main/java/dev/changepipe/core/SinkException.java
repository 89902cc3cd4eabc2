package dev.changepipe.core;

/**
 * A sink could not write. Names the sink and, where known, the table and column at fault. Transient
 * faults (connection refused, timeouts, overload) are {@linkplain #isRetryable() retryable}; permanent
 * ones (unknown table, a value that does not convert) are not.
 */
public class SinkException extends PipelineException {

    private final String sink;
    private final String table;
    private final String column;

    public SinkException(String sink, String table, String column, String message, Throwable cause, boolean retryable) {
        super(describe(sink, table, column, message), cause, retryable);
        this.sink = sink;
        this.table = table;
        this.column = column;
    }

    /** A transient fault: the same write may succeed later. */
    public static SinkException retryable(String sink, String table, String message, Throwable cause) {
        return new SinkException(sink, table, null, message, cause, true);
    }

    /** A permanent fault: the same write will fail again. */
    public static SinkException permanent(String sink, String table, String column, String message, Throwable cause) {
        return new SinkException(sink, table, column, message, cause, false);
    }

    public String sink() {
        return sink;
    }

    /** The table at fault, or {@code null}. */
    public String table() {
        return table;
    }

    /** The column at fault, or {@code null}. */
    public String column() {
        return column;
    }

    private static String describe(String sink, String table, String column, String message) {
        StringBuilder b = new StringBuilder("sink ").append(sink);
        if (table != null) {
            b.append(", table ").append(table);
        }
        if (column != null) {
            b.append(", column ").append(column);
        }
        return b.append(": ").append(message).toString();
    }
}
