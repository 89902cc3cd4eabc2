package dev.changepipe.core;

/**
 * The root of the pipeline's unchecked errors. Says whether retrying the same operation can help
 * ({@link #isRetryable()}) and, where known, which origin and offset the failed work came from, so a
 * person reading the message knows what to look at.
 *
 * <p>Retries are written as {@code Retry.backoff(...).filter(PipelineException::isRetryable)}.
 */
public class PipelineException extends RuntimeException {

    private final boolean retryable;
    private final String origin;
    private final Offset offset;

    public PipelineException(String message) {
        this(message, null, false, null, null);
    }

    public PipelineException(String message, Throwable cause) {
        this(message, cause, false, null, null);
    }

    public PipelineException(String message, Throwable cause, boolean retryable) {
        this(message, cause, retryable, null, null);
    }

    public PipelineException(String message, Throwable cause, boolean retryable, String origin, Offset offset) {
        super(withContext(message, origin, offset), cause);
        this.retryable = retryable;
        this.origin = origin;
        this.offset = offset;
    }

    /**
     * Wraps {@code error} with the chunk it happened in and the stage (parse, write, ack) unless it
     * already names an origin. Keeps the retryable flag of a {@code PipelineException}.
     */
    public static PipelineException inChunk(String stage, Chunk chunk, Throwable error) {
        if (error instanceof PipelineException pe && pe.origin() != null) {
            return pe;
        }
        boolean retryable = error instanceof PipelineException pe && pe.isRetryable();
        String what = error.getMessage() == null ? error.getClass().getName() : error.getMessage();
        return new PipelineException(stage + " failed: " + what, error, retryable, chunk.origin(), chunk.offset());
    }

    /** Whether retrying the failed operation, unchanged, can succeed (a timeout, a lost connection). */
    public boolean isRetryable() {
        return retryable;
    }

    /** Whether retrying can help; {@code false} for anything that is not a {@code PipelineException}. */
    public static boolean isRetryable(Throwable error) {
        return error instanceof PipelineException pe && pe.isRetryable();
    }

    /** The origin of the failed work, or {@code null}. */
    public String origin() {
        return origin;
    }

    /** The offset of the failed chunk in its origin, or {@code null}. */
    public Offset offset() {
        return offset;
    }

    private static String withContext(String message, String origin, Offset offset) {
        if (origin == null) {
            return message;
        }
        return message + " [origin " + origin + (offset == null ? "" : ", offset " + offset) + "]";
    }
}
