package dev.changepipe.core;

/**
 * What a source says of itself on the status page, {@link Source#status()}.
 *
 * @param lagBytes how much it has not read yet, in bytes (a log file's size past the last checkpoint);
 *                 0 where it cannot tell
 * @param deadLetters the records it refused since the process started and kept itself (a log's
 *                    dead-letter file); letters it handed to the pipeline's dead-letter store are
 *                    counted there
 */
public record SourceStatus(long lagBytes, long deadLetters) {

    /** Nothing to say: what a source reports by default. */
    public static final SourceStatus NONE = new SourceStatus(0, 0);
}
