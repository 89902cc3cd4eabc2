package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code type: clickhouse}: the ClickHouse sink (docs/clickhouse-sink.md); its keys are
 * {@link ClickHouseConfig}'s, its connection's {@link ClickHouseConfig.Server}'s. Registers a
 * readiness probe that GETs {@code /ping} of every endpoint (ready when one answers).
 */
public final class ClickHouseSinkProvider implements SinkProvider {

    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(2);
    /** Keys are spelled in the read-back query, which the server's max_query_size (256 KiB) bounds. */
    static final int MAX_KEYS_PER_LOOKUP = 100_000;

    @Override
    public String type() {
        return "clickhouse";
    }

    @Override
    public Class<ClickHouseConfig> options() {
        return ClickHouseConfig.class;
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        ClickHouseConfig c = s.bind(ClickHouseConfig.class);
        String connectionPath = "connections.clickhouse." + c.connection();
        ClickHouseConfig.Server server = context.connection(s.pathOf("connection"), c.connection(), ClickHouseConfig.Server.class);
        List<String> endpoints = server.endpoints();
        for (int i = 0; i < endpoints.size(); i++) {
            checkUrl(connectionPath + ".endpoints[" + i + "]", endpoints.get(i));
        }
        ClickHouseSinkOptions.Builder b = ClickHouseSinkOptions.builder()
                .name(c.name())
                .endpoints(endpoints)
                .credentials(server.user(), server.password())
                .database(c.database() != null ? c.database() : server.database())
                .defaultMode(c.mode())
                .format(c.format())
                .compression(c.compression())
                .retryDeadline(c.retryDeadline())
                .encodeThreads(c.encodeThreads())
                .keysPerLookup(c.keysPerLookup())
                .versionColumn(c.versionColumn())
                .deletedColumn(c.deletedColumn())
                .signColumn(c.signColumn())
                .onBadRecord(c.onBadRecord())
                .deadLetters(context.deadLetters());
        for (int i = 0; i < server.shards().size(); i++) {
            List<String> replicas = server.shards().get(i);
            for (int j = 0; j < replicas.size(); j++) {
                checkUrl(connectionPath + ".shards[" + i + "][" + j + "]", replicas.get(j));
            }
            if (replicas.isEmpty()) {
                throw new ConfigException(connectionPath + ".shards[" + i + "]", "expected the URL of one replica at least");
            }
        }
        if (c.cluster() != null) {
            b.cluster(c.cluster()).shards(server.shards());
        }
        c.tables().forEach((name, t) -> {
            TableOptions.Builder tb = TableOptions.builder();
            if (t != null) {
                if (t.target() != null) {
                    tb.target(t.target());
                }
                if (t.mode() != null) {
                    tb.mode(t.mode());
                }
                if (t.create() != null) {
                    tb.create(t.create().columns(), t.create().orderBy());
                    if (t.create().shardBy() != null) {
                        tb.shardBy(t.create().shardBy());
                    }
                }
                if (t.partitionBy() != null) {
                    tb.partitionBy(t.partitionBy());
                }
            }
            b.table(name, s.build("tables." + name, tb::build));
        });
        ClickHouseSinkOptions options = s.build(b::build);
        context.readinessProbe("clickhouse " + String.join(",", options.endpoints()), ping(options.endpoints()));
        return ClickHouseSink.create(options);
    }

    /** Completes when one endpoint answers {@code /ping} with 200 (the JDK's HTTP client: one for all probes). */
    static Mono<Void> ping(List<String> endpoints) {
        return Flux.fromIterable(endpoints)
                .concatMap(e -> Mono.fromFuture(() -> Probe.CLIENT.sendAsync(
                                HttpRequest.newBuilder(URI.create(e + "/ping")).timeout(PROBE_TIMEOUT).build(),
                                HttpResponse.BodyHandlers.discarding()))
                        .flatMap(response -> response.statusCode() == 200
                                ? Mono.just(true)
                                : Mono.<Boolean>error(new IllegalStateException(e + " answered " + response.statusCode())))
                        .onErrorResume(err -> Mono.empty()))
                .next()
                .switchIfEmpty(Mono.error(() -> new IllegalStateException("no ClickHouse endpoint answers /ping")))
                .then();
    }

    /** Made on the first probe, not when a sink is configured (validate probes nothing). */
    private static final class Probe {
        static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(PROBE_TIMEOUT).build();
    }

    private static void checkUrl(String path, String url) {
        if (!url.startsWith("http://") && !url.startsWith("https://") || url.substring(url.indexOf("//") + 2).contains("@")) {
            throw new ConfigException(path, "expected an http(s)://host:port URL without credentials (use user and password)");
        }
    }
}
