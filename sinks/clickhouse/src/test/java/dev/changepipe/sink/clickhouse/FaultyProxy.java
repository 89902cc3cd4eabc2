package dev.changepipe.sink.clickhouse;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy on loopback in front of a real ClickHouse that injects the faults a real server cannot
 * produce on demand: each new connection takes the next planned {@link Fault} (then forwards once the
 * plan is used up). {@code RESET} reads part of the request and resets the connection; {@code HTTP_500}
 * answers a bare 500 without a ClickHouse error; {@code HTTP_500_CODE} answers 500 with a ClickHouse
 * error body of the given code. Besides the plan, {@link #loseNextInsertResponse()} makes the proxy
 * forward the next {@code INSERT} it sees, let the server execute it, and reset the client's connection
 * instead of passing the server's answer on: the insert is done, but the client cannot know.
 */
final class FaultyProxy implements AutoCloseable {

    enum Fault { RESET, HTTP_500, TOO_MANY_PARTS, FORWARD }

    private final ServerSocket server;
    private final int targetPort;
    private final Queue<Fault> plan = new ConcurrentLinkedQueue<>();
    private final AtomicInteger connections = new AtomicInteger();
    private final Thread acceptor;
    private final java.util.concurrent.atomic.AtomicBoolean loseInsertResponse = new java.util.concurrent.atomic.AtomicBoolean();
    private final AtomicInteger insertResponsesLost = new AtomicInteger();

    FaultyProxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::accept, "faulty-proxy");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getLocalPort();
    }

    void plan(Fault... faults) {
        plan.addAll(java.util.List.of(faults));
    }

    int connections() {
        return connections.get();
    }

    /** The next INSERT forwarded is executed by the server, and its response is replaced by a reset. */
    void loseNextInsertResponse() {
        loseInsertResponse.set(true);
    }

    int insertResponsesLost() {
        return insertResponsesLost.get();
    }

    boolean planUsedUp() {
        return plan.isEmpty();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                connections.incrementAndGet();
                Fault fault = plan.poll();
                Thread t = new Thread(() -> handle(client, fault == null ? Fault.FORWARD : fault), "faulty-proxy-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException closed) {
                return;
            }
        }
    }

    private void handle(Socket client, Fault fault) {
        try {
            InputStream in = client.getInputStream();
            OutputStream out = client.getOutputStream();
            switch (fault) {
                case RESET:
                    in.read(new byte[64]);
                    client.setSoLinger(true, 0);
                    client.close();
                    return;
                case HTTP_500:
                    readHeaders(in);
                    respond(out, "");
                    client.close();
                    return;
                case TOO_MANY_PARTS:
                    readHeaders(in);
                    respond(out, "Code: 252, e.displayText() = DB::Exception: Too many parts (300)."
                            + " Merges are processing significantly slower than inserts., e.what() = DB::Exception\n");
                    client.close();
                    return;
                default:
                    forward(client);
            }
        } catch (IOException e) {
            // the upstream is down (or the client went away): drop the client's connection
            try {
                client.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private static void respond(OutputStream out, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: " + b.length
                + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    private static void readHeaders(InputStream in) throws IOException {
        int state = 0;
        while (state < 4) {
            int c = in.read();
            if (c < 0) {
                return;
            }
            state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
    }

    private void forward(Socket client) throws IOException {
        Socket upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
        java.util.concurrent.atomic.AtomicBoolean insertSent = new java.util.concurrent.atomic.AtomicBoolean();
        Thread back = new Thread(() -> pipe(upstream, client, null, insertSent), "faulty-proxy-back");
        back.setDaemon(true);
        back.start();
        pipe(client, upstream, insertSent, null);
    }

    /**
     * Copies bytes from one socket to the other. Requests ({@code sawInsert} set): notes an INSERT while
     * one is to be lost. Responses ({@code insertSent} set): once that INSERT was sent, the first bytes
     * of the response (the server answers once the insert is done; a {@code 100 Continue} is passed on)
     * are dropped and the client's connection reset.
     */
    private void pipe(Socket from, Socket to, java.util.concurrent.atomic.AtomicBoolean sawInsert,
            java.util.concurrent.atomic.AtomicBoolean insertSent) {
        byte[] buf = new byte[65536];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (sawInsert != null && loseInsertResponse.get()
                        && new String(buf, 0, n, StandardCharsets.ISO_8859_1).contains("INSERT")) {
                    sawInsert.set(true);
                }
                if (insertSent != null && insertSent.get()
                        && !new String(buf, 0, n, StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 100")
                        && loseInsertResponse.compareAndSet(true, false)) {
                    insertResponsesLost.incrementAndGet();
                    to.setSoLinger(true, 0);
                    to.close();
                    from.close();
                    return;
                }
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException ignored) {
            // one side closed
        } finally {
            try {
                from.close();
                to.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
