package dev.changepipe.source.oplog;

import dev.changepipe.core.PipelineException;

/**
 * A log line that is not in the expected format. Thrown by a {@link LineParser}; the source sends the
 * line to the dead-letter file with this exception's message as the reason, or, with
 * {@code failOnMalformed}, ends the run with it. Never retryable: the same line fails again.
 */
public class MalformedLineException extends PipelineException {

    private final String reason;

    /** A malformed line; {@code reason} says what is wrong, in a few words. */
    public MalformedLineException(String reason) {
        this(reason, null);
    }

    public MalformedLineException(String reason, Throwable cause) {
        super(reason, cause);
        this.reason = reason;
    }

    /** What is wrong with the line, as written to the dead-letter file. */
    public String reason() {
        return reason;
    }
}
