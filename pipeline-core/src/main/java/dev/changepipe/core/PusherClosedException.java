package dev.changepipe.core;

/**
 * A push was refused because the pusher was closed or has failed. The chunk was not admitted and will
 * not be acknowledged, so a source re-reads it after a restart. When the pusher failed, the cause is
 * the first error that ended it.
 */
public class PusherClosedException extends PipelineException {

    public PusherClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
