package dev.changepipe.sink.postgres;

import dev.changepipe.core.PipelineException;
import dev.changepipe.core.SinkException;
import io.r2dbc.spi.R2dbcException;
import io.r2dbc.spi.R2dbcNonTransientResourceException;
import io.r2dbc.spi.R2dbcTransientException;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.TimeoutException;

/**
 * Classifies the driver's errors: whether writing the chunk again can succeed. Retryable are the
 * faults of the moment: a lost or refused connection (SQLSTATE class {@code 08}, a closed channel),
 * a serialization failure ({@code 40001}), a deadlock ({@code 40P01}), a server shutting down or
 * starting ({@code 57P01..57P03}), too many connections ({@code 53300}), a lock or statement timeout
 * ({@code 55P03}, {@code 57014}) and the driver's transient errors. The rest (an undefined table, a
 * unique violation, a type error) fail the same way again.
 */
final class Faults {

    private Faults() {
    }

    static boolean isRetryable(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof R2dbcException r) {
                String state = r.getSqlState();
                if (state != null && !state.isEmpty()) {
                    return isRetryableState(state);
                }
                if (r instanceof R2dbcTransientException) {
                    return true;
                }
                if (r instanceof R2dbcNonTransientResourceException) {
                    // The driver's "connection closed" has no SQLSTATE; a new connection may work.
                    return true;
                }
            }
            if (t instanceof ClosedChannelException || t instanceof IOException || t instanceof TimeoutException) {
                return true;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }

    static boolean isRetryableState(String state) {
        return state.startsWith("08")
                || state.equals("40001") || state.equals("40P01")
                || state.equals("57P01") || state.equals("57P02") || state.equals("57P03")
                || state.equals("53300") || state.equals("55P03") || state.equals("57014");
    }

    /** The SQLSTATE of the error or of its first cause that has one, or {@code null}. */
    static String sqlState(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause()) {
            if (t instanceof R2dbcException r && r.getSqlState() != null && !r.getSqlState().isEmpty()) {
                return r.getSqlState();
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return null;
    }

    /**
     * The error as the sink reports it: a {@link PipelineException} as it is, anything else wrapped in
     * a {@link SinkException} naming the table (when known) and the SQLSTATE.
     */
    static PipelineException wrap(String sink, String table, String doing, Throwable error) {
        if (error instanceof PipelineException pe) {
            return pe;
        }
        String state = sqlState(error);
        String message = doing + " failed" + (state == null ? "" : " (SQLSTATE " + state + ")") + ": "
                + (error.getMessage() == null ? error.getClass().getName() : error.getMessage());
        return new SinkException(sink, table, null, message, error, isRetryable(error));
    }
}
