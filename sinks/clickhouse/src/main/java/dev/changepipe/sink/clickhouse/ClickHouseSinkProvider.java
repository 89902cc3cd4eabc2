package dev.changepipe.sink.clickhouse;

import dev.changepipe.core.OnBadRecord;
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
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code type: clickhouse}: the ClickHouse sink (docs/clickhouse-sink.md). Keys: {@code connection}
 * (required; a name under {@code connections.clickhouse}, which holds {@code endpoints}, {@code user},
 * {@code password}, {@code database}), {@code database} (overrides the connection's), {@code mode}
 * (replacing, collapsing, append), {@code format} (row-binary, tab-separated), {@code compression},
 * {@code cluster}, {@code retryDeadline}, {@code encodeThreads}, {@code keysPerLookup} (keys per
 * read-back query of the collapsing mode and of replacing-mode tombstones), {@code versionColumn},
 * {@code deletedColumn}, {@code signColumn} (the column names of the modes), and {@code tables}: per source table
 * {@code target}, {@code mode}, {@code create: {columns: [...], orderBy: [...]}}, {@code partitionBy}.
 * Registers a readiness probe that GETs {@code /ping} of every endpoint (ready when one answers).
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
    public Sink create(Settings s, ServiceContext context) {
        Settings c = context.connection(s, "connection", "clickhouse");
        List<String> endpoints = c.strings("endpoints");
        if (endpoints.isEmpty()) {
            throw new ConfigException(c.pathOf("endpoints"), "required, expected a list of http(s)://host:port URLs");
        }
        for (int i = 0; i < endpoints.size(); i++) {
            String e = endpoints.get(i);
            if (!e.startsWith("http://") && !e.startsWith("https://") || e.substring(e.indexOf("//") + 2).contains("@")) {
                throw new ConfigException(c.pathOf("endpoints") + "[" + i + "]",
                        "expected an http(s)://host:port URL without credentials (use user and password)");
            }
        }
        String user = c.string("user", ClickHouseSinkOptions.DEFAULT_USERNAME);
        String password = c.string("password", "");
        String database = c.string("database", ClickHouseSinkOptions.DEFAULT_DATABASE);
        c.checkNoUnknownKeys();
        ClickHouseSinkOptions.Builder b = ClickHouseSinkOptions.builder()
                .name(s.string("name", "clickhouse"))
                .endpoints(endpoints)
                .credentials(user, password)
                .database(s.string("database", database))
                .defaultMode(s.choice("mode", WriteMode.class, ClickHouseSinkOptions.DEFAULT_MODE))
                .format(s.choice("format", InsertFormat.class, ClickHouseSinkOptions.DEFAULT_FORMAT))
                .compression(s.bool("compression", false))
                .retryDeadline(s.duration("retryDeadline", ClickHouseSinkOptions.DEFAULT_RETRY_DEADLINE))
                .encodeThreads(s.integer("encodeThreads", ClickHouseSinkOptions.DEFAULT_ENCODE_THREADS, 1, 64))
                .keysPerLookup(s.integer("keysPerLookup", ClickHouseSinkOptions.DEFAULT_KEYS_PER_LOOKUP, 1,
                        MAX_KEYS_PER_LOOKUP))
                .onBadRecord(s.choice("onBadRecord", OnBadRecord.class, OnBadRecord.DEAD_LETTER))
                .deadLetters(context.deadLetters());
        s.optionalString("cluster").ifPresent(b::cluster);
        s.optionalString("versionColumn").ifPresent(b::versionColumn);
        s.optionalString("deletedColumn").ifPresent(b::deletedColumn);
        s.optionalString("signColumn").ifPresent(b::signColumn);
        for (Map.Entry<String, Settings> e : s.children("tables").entrySet()) {
            Settings t = e.getValue();
            TableOptions.Builder tb = TableOptions.builder();
            t.optionalString("target").ifPresent(tb::target);
            if (t.has("mode")) {
                tb.mode(t.choice("mode", WriteMode.class, null));
            }
            t.optionalChild("create").ifPresent(cr -> {
                List<String> columns = cr.strings("columns");
                List<String> orderBy = cr.strings("orderBy");
                if (columns.isEmpty()) {
                    throw new ConfigException(cr.pathOf("columns"), "required, expected a list of 'name Type'");
                }
                if (orderBy.isEmpty()) {
                    throw new ConfigException(cr.pathOf("orderBy"), "required, expected the key columns");
                }
                cr.checkNoUnknownKeys();
                tb.create(columns, orderBy);
            });
            t.optionalString("partitionBy").ifPresent(tb::partitionBy);
            t.checkNoUnknownKeys();
            b.table(e.getKey(), t.build(tb::build));
        }
        s.checkNoUnknownKeys();
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
}
