package dev.changepipe.sink.clickhouse;

import com.clickhouse.client.api.ConnectionInitiationException;
import com.clickhouse.client.api.ServerException;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tells transient ClickHouse faults from permanent ones and turns both into a
 * {@link ClickHouseWriteException} with the server's code and message.
 *
 * <p>Transient: no response at all (connection refused or reset, timeouts: an {@link IOException}
 * anywhere in the cause chain), an HTTP 5xx or 429 that carries no ClickHouse error code (a proxy, a
 * server dying), and the ClickHouse codes in {@link #TRANSIENT_CODES}. Everything else is permanent:
 * unknown table or column, type mismatch, syntax, parse errors of our data. Old servers (18.16) put the
 * code only in the message ({@code Code: 60, e.displayText() = ...}); it is parsed from there.
 */
final class Errors {

    /** ClickHouse error codes worth retrying. */
    static final Set<Integer> TRANSIENT_CODES = Set.of(
            159, // TIMEOUT_EXCEEDED
            164, // READONLY (replica lost ZooKeeper)
            202, // TOO_MANY_SIMULTANEOUS_QUERIES
            203, // NO_FREE_CONNECTION
            209, // SOCKET_TIMEOUT
            210, // NETWORK_ERROR
            225, // NO_ZOOKEEPER
            236, // ABORTED
            241, // MEMORY_LIMIT_EXCEEDED
            242, // TABLE_IS_READ_ONLY
            252, // TOO_MANY_PARTS
            279, // ALL_CONNECTION_TRIES_FAILED
            285, // TOO_FEW_LIVE_REPLICAS
            319, // UNKNOWN_STATUS_OF_INSERT
            394, // QUERY_WAS_CANCELLED
            425, // SYSTEM_ERROR
            439, // CANNOT_SCHEDULE_TASK
            999, // KEEPER_EXCEPTION
            1000 // POCO_EXCEPTION
    );

    private static final Pattern CODE = Pattern.compile("Code:\\s*(\\d+)");
    private static final int MAX_MESSAGE = 1000;

    private Errors() {
    }

    /** The fault as a {@link ClickHouseWriteException}; one already classified is returned as is. */
    static ClickHouseWriteException classify(String sink, String table, String what, Throwable error) {
        Throwable e = unwrap(error);
        ClickHouseWriteException known = find(e, ClickHouseWriteException.class);
        if (known != null) {
            return known; // ours, e.g. a conversion error thrown while the insert streamed
        }
        ServerException server = find(e, ServerException.class);
        if (server != null) {
            int http = server.getTransportProtocolCode();
            String message = trim(server.getMessage());
            int code = server.getCode() > 0 ? server.getCode() : parseCode(message);
            boolean retryable = code > 0 ? TRANSIENT_CODES.contains(code) : http >= 500 || http == 429;
            return new ClickHouseWriteException(sink, table, null,
                    what + " failed: " + (code > 0 ? "ClickHouse error " + code : "server error")
                            + (http > 0 ? " (HTTP " + http + ")" : "") + ": " + message,
                    e, retryable, Math.max(code, 0), http);
        }
        IOException io = find(e, IOException.class);
        if (io != null) {
            return new ClickHouseWriteException(sink, table, null,
                    what + " failed, no answer from ClickHouse: " + io.getClass().getSimpleName() + ": "
                            + trim(io.getMessage()), e, true, 0, 0);
        }
        int code = parseCode(e.getMessage());
        boolean noResponse = find(e, ConnectionInitiationException.class) != null;
        boolean retryable = code > 0 ? TRANSIENT_CODES.contains(code) : noResponse;
        return new ClickHouseWriteException(sink, table, null,
                what + " failed: " + e.getClass().getSimpleName() + ": " + trim(e.getMessage()), e, retryable,
                Math.max(code, 0), 0);
    }

    static int parseCode(String message) {
        if (message == null) {
            return 0;
        }
        Matcher m = CODE.matcher(message);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static <T extends Throwable> T find(Throwable e, Class<T> type) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    private static String trim(String message) {
        if (message == null) {
            return "(no message)";
        }
        String m = message.strip();
        return m.length() > MAX_MESSAGE ? m.substring(0, MAX_MESSAGE) + "..." : m;
    }
}
