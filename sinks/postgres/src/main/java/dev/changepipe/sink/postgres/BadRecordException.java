package dev.changepipe.sink.postgres;

import dev.changepipe.core.SinkException;

/**
 * The sink refuses one item for its own content (a value that does not convert, a null key, a field
 * with no column, an unknown table): with a dead-letter store that item becomes a dead letter and the
 * rest is written; without one it fails the write like any permanent error.
 */
final class BadRecordException extends SinkException {

    private final String category;

    BadRecordException(String category, String sink, String table, String column, String message, Throwable cause) {
        super(sink, table, column, message, cause, false);
        this.category = category;
    }

    /** The dead letter's short cause: {@code conversion}, {@code unknown-table}, {@code unknown-column}... */
    String category() {
        return category;
    }
}
