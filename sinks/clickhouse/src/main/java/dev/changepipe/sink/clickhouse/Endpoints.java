package dev.changepipe.sink.clickhouse;

import com.clickhouse.client.api.Client;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * The configured endpoints, one client each (built on first use), and which one is current. A call
 * that fails with a transient fault moves the current endpoint to the next one, so the retry goes
 * there (failover, round robin). Thread-safe.
 */
final class Endpoints implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Endpoints.class);

    /** Work done with a client on a bounded-elastic thread; may block. */
    @FunctionalInterface
    interface Call<T> {
        T apply(Client client) throws Exception;
    }

    private final ClickHouseSinkOptions options;
    private final List<String> urls;
    private final AtomicReferenceArray<Client> clients;
    private final AtomicInteger current = new AtomicInteger();
    private volatile boolean closed;

    Endpoints(ClickHouseSinkOptions options) {
        this(options, options.endpoints());
    }

    /** Other endpoints than the options' (the replicas of one shard), with the options' client settings. */
    Endpoints(ClickHouseSinkOptions options, List<String> urls) {
        this.options = options;
        this.urls = List.copyOf(urls);
        this.clients = new AtomicReferenceArray<>(urls.size());
    }

    /**
     * Runs {@code call} against the current endpoint on a bounded-elastic thread. Errors arrive as
     * {@link ClickHouseWriteException}; a transient one makes the next endpoint current.
     */
    <T> Mono<T> call(String table, String what, Call<T> call) {
        return Mono.defer(() -> {
            int index = current.get();
            return Mono.fromCallable(() -> call.apply(client(index)))
                    .subscribeOn(Schedulers.boundedElastic())
                    .onErrorMap(e -> {
                        ClickHouseWriteException c = Errors.classify(options.name(), table,
                                what + " at " + urls.get(index), e);
                        if (c.isRetryable() && urls.size() > 1 && current.compareAndSet(index, (index + 1) % urls.size())) {
                            log.warn("{}: {}; failing over to {}", options.name(), c.getMessage(),
                                    urls.get((index + 1) % urls.size()));
                        }
                        return c;
                    });
        });
    }

    private Client client(int index) {
        if (closed) {
            throw new IllegalStateException("sink " + options.name() + " is closed");
        }
        Client c = clients.get(index);
        if (c == null) {
            Client built = build(urls.get(index));
            if (clients.compareAndSet(index, null, built)) {
                c = built;
            } else {
                built.close();
                c = clients.get(index);
            }
        }
        return c;
    }

    private Client build(String url) {
        return new Client.Builder()
                .addEndpoint(url)
                .setUsername(options.username())
                .setPassword(options.password())
                .compressServerResponse(false) // 18.16 answers compress=1 with an empty body
                .compressClientRequest(options.compression())
                .setConnectTimeout(options.connectTimeout().toMillis(), ChronoUnit.MILLIS)
                .setSocketTimeout(options.socketTimeout().toMillis(), ChronoUnit.MILLIS)
                .setMaxRetries(0) // the sink retries, with backoff and failover
                .setClientName("changepipe")
                .build();
    }

    @Override
    public void close() {
        closed = true;
        for (int i = 0; i < clients.length(); i++) {
            Client c = clients.getAndSet(i, null);
            if (c != null) {
                c.close();
            }
        }
    }
}
