package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.SinkException;

/**
 * A ClickHouse write that failed, with the server's error code and HTTP status where there was a
 * response. {@link #isRetryable()} tells a transient fault from a permanent one.
 */
public final class ClickHouseWriteException extends SinkException {

    private final int errorCode;
    private final int httpStatus;

    ClickHouseWriteException(String sink, String table, String column, String message, Throwable cause,
            boolean retryable, int errorCode, int httpStatus) {
        super(sink, table, column, message, cause, retryable);
        this.errorCode = errorCode;
        this.httpStatus = httpStatus;
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
