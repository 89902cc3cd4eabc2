package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.SinkException;

/**
 * A ClickHouse write that failed, with the server's error code and HTTP status where there was a
 * response. {@link #isRetryable()} tells a transient fault from a permanent one.
 */
public final class ClickHouseWriteException extends SinkException {

    private final int errorCode;
    private final int httpStatus;
    private final String badRecord;

    ClickHouseWriteException(String sink, String table, String column, String message, Throwable cause,
            boolean retryable, int errorCode, int httpStatus) {
        this(sink, table, column, message, cause, retryable, errorCode, httpStatus, null);
    }

    private ClickHouseWriteException(String sink, String table, String column, String message, Throwable cause,
            boolean retryable, int errorCode, int httpStatus, String badRecord) {
        super(sink, table, column, message, cause, retryable);
        this.errorCode = errorCode;
        this.httpStatus = httpStatus;
        this.badRecord = badRecord;
    }

    /**
     * An item refused for its own content (the {@code cause}: {@code conversion}, {@code unknown-table},
     * ...): it goes to the dead letters, the rest of the write goes on.
     */
    static ClickHouseWriteException badRecord(String cause, String sink, String table, String column, String message,
            int errorCode) {
        return new ClickHouseWriteException(sink, table, column, message, null, false, errorCode, 0, cause);
    }

    /** Whether this error is about one item's own content (it can be dead-lettered) rather than the target. */
    public boolean isBadRecord() {
        return badRecord != null;
    }

    /** The category of a {@linkplain #isBadRecord() bad record}, or {@code null}. */
    public String badRecordCause() {
        return badRecord;
    }

    /** ClickHouse's error code ({@code Code: 60} is 60), or 0 when there was none. */
    public int errorCode() {
        return errorCode;
    }

    /** The HTTP status of the response, or 0 when there was no response. */
    public int httpStatus() {
        return httpStatus;
    }
}
