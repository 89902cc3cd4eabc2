package dev.changepipe.sink.redis;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisException;
import java.io.IOException;
import java.util.concurrent.CompletionException;

/** Tells transient Redis faults (a retry can help) from permanent ones. */
final class RedisErrors {

    private RedisErrors() {
    }

    /** The cause hidden in a {@link CompletionException}, or the error itself. */
    static Throwable unwrap(Throwable error) {
        Throwable e = error;
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /**
     * Whether Redis refused a script call because of the object's own keys: one of them holds
     * something that is not the hot storage's (a value that is not a versioned object, a key of
     * another type). Only that object's change is refused; the others of the pipeline are applied.
     */
    static boolean isKeyConflict(Throwable error) {
        Throwable e = unwrap(error);
        if (e instanceof RedisCommandExecutionException) {
            String m = e.getMessage() == null ? "" : e.getMessage();
            return m.startsWith("HOTSTORAGE") || m.startsWith("WRONGTYPE");
        }
        return false;
    }

    /**
     * Whether the same command may succeed later: lost or refused connections, timeouts, and the
     * server's transient refusals (loading, busy script, out of memory, failover in progress).
     */
    static boolean isRetryable(Throwable error) {
        Throwable e = unwrap(error);
        if (e instanceof RedisCommandExecutionException) {
            String m = e.getMessage() == null ? "" : e.getMessage();
            return m.startsWith("LOADING") || m.startsWith("BUSY") || m.startsWith("OOM")
                    || m.startsWith("TRYAGAIN") || m.startsWith("MASTERDOWN") || m.startsWith("READONLY")
                    || m.startsWith("CLUSTERDOWN");
        }
        return e instanceof RedisConnectionException || e instanceof RedisCommandTimeoutException
                || e instanceof IOException || (e instanceof RedisException && e.getCause() instanceof IOException)
                || (e instanceof RedisException && e.getMessage() != null && e.getMessage().contains("Connection closed"));
    }
}
