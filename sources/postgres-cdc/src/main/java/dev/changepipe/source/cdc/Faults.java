package dev.changepipe.source.cdc;

import dev.changepipe.core.PipelineException;
import io.r2dbc.postgresql.client.Client;
import io.r2dbc.spi.R2dbcException;
import io.r2dbc.spi.R2dbcNonTransientResourceException;
import io.r2dbc.spi.R2dbcTransientException;
import java.io.IOException;
import java.lang.reflect.Field;
import java.util.concurrent.TimeoutException;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;

/** How the source meets the driver's faults: which ones a restart cures, and one the driver would cause. */
final class Faults {

    private Faults() {
    }

    /**
     * The error as the source reports it: a {@link PipelineException} as it is; anything else wrapped,
     * retryable when a new connection can succeed: a lost or refused connection (SQLSTATE class
     * {@code 08}, the driver's closed connection or full response queue), a server shutting down or
     * starting ({@code 57P01..57P03}), too many connections ({@code 53300}), and the slot still held by a
     * walsender ({@code 55006}: the one of a connection lost a moment ago ends within the server's
     * {@code wal_sender_timeout}). Anything else (a permission, a bad publication) fails the same way again.
     * The snapshot's {@code COPY} reads through JDBC: its {@code SQLException}s are classified by SQLSTATE too.
     */
    static PipelineException of(String source, Throwable error) {
        if (error instanceof PipelineException pe) {
            return pe;
        }
        String state = null;
        boolean retryable = false;
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String sqlState = t instanceof R2dbcException r ? r.getSqlState()
                    : t instanceof java.sql.SQLException q ? q.getSQLState() : null;
            if (sqlState != null && !sqlState.isEmpty()) {
                state = sqlState;
                retryable = state.startsWith("08") || state.startsWith("57P0") || state.equals("53300")
                        || state.equals("55006");
                break;
            }
            if (t instanceof R2dbcTransientException || t instanceof R2dbcNonTransientResourceException
                    || t instanceof IOException || t instanceof TimeoutException) {
                retryable = true;
                break;
            }
        }
        String message = error.getMessage() == null ? error.getClass().getName() : error.getMessage();
        return new PipelineException(source + ": PostgreSQL" + (state == null ? "" : " (SQLSTATE " + state + ")")
                + ": " + message, error, retryable);
    }

    /**
     * The flux with every request to it made on the connection's event loop. r2dbc-postgresql 1.0's
     * {@code ReactorNettyClient} asks the socket for more messages when its 256-message buffer is empty;
     * when a consumer's request (on the consumer's thread) checks that while the event loop is between
     * counting a message and buffering it, it asks for 256 more than the buffer holds, and a backlog read
     * by a slower consumer then fails with "Response queue is full" (about one 1 M-change catch-up in ten).
     * Requests made on the event loop cannot interleave with it. Without the loop ({@code null}: another
     * driver version), the flux is returned as it is.
     */
    static <T> Flux<T> requestedOn(Scheduler loop, Flux<T> flux) {
        return loop == null ? flux : flux.subscribeOn(loop, true);
    }

    /** The event loop of an r2dbc-postgresql connection, or {@code null}. */
    static Scheduler eventLoop(Object connection) {
        try {
            Field client = connection.getClass().getDeclaredField("client");
            client.setAccessible(true);
            return ((Client) client.get(connection)).getScheduler();
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
