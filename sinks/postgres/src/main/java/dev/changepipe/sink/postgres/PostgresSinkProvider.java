package dev.changepipe.sink.postgres;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import io.r2dbc.postgresql.PostgresqlConnectionFactoryProvider;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryOptions;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code type: postgres}: the PostgreSQL sink (docs/postgres-sink.md). Keys: {@code connection}
 * (required; a name under {@code connections.postgres}, which holds {@code url}, an
 * {@code r2dbc:postgresql://} URL whose password is never logged), {@code schema},
 * {@code versionColumn}, {@code addVersionColumn}, {@code strictColumns}, {@code tables}
 * (source table: target table), {@code maxPoolSize}, {@code maxRetries}, {@code onBadRecord}
 * ({@code dead-letter}, the default: refused items go to the pipeline's dead letters; {@code fail}). Registers a readiness probe
 * that opens a connection and runs {@code SELECT 1}.
 */
public final class PostgresSinkProvider implements SinkProvider {

    @Override
    public String type() {
        return "postgres";
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        Settings c = context.connection(s, "connection", "postgres");
        String url = c.string("url");
        c.checkNoUnknownKeys();
        PostgresSinkOptions.Builder b = PostgresSinkOptions.builder().url(url).name(s.string("name", "postgres"))
                .onBadRecord(s.choice("onBadRecord", OnBadRecord.class, OnBadRecord.DEAD_LETTER))
                .deadLetters(context.deadLetters());
        s.optionalString("schema").ifPresent(b::schema);
        s.optionalString("versionColumn").ifPresent(b::versionColumn);
        if (s.has("addVersionColumn")) {
            b.addVersionColumn(s.bool("addVersionColumn", false));
        }
        if (s.has("strictColumns")) {
            b.strictColumns(s.bool("strictColumns", false));
        }
        for (Map.Entry<String, String> e : s.stringMap("tables").entrySet()) {
            b.table(e.getKey(), e.getValue());
        }
        if (s.has("maxPoolSize")) {
            b.maxPoolSize(s.integer("maxPoolSize", 4, 1, 1000));
        }
        if (s.has("maxRetries")) {
            b.maxRetries(s.integer("maxRetries", 5, 0, 1000));
        }
        s.checkNoUnknownKeys();
        PostgresSinkOptions options = s.build(b::build);
        context.readinessProbe("postgres " + where(url), selectOne(url));
        return PostgresSink.create(options);
    }

    /** Completes when a new connection to {@code url} answers {@code SELECT 1}; no I/O until subscribed. */
    static Mono<Void> selectOne(String url) {
        return Mono.defer(() -> {
            ConnectionFactory factory = new PostgresqlConnectionFactoryProvider().create(ConnectionFactoryOptions.parse(url));
            return Mono.usingWhen(Mono.from(factory.create()),
                    c -> Flux.from(c.createStatement("SELECT 1").execute())
                            .flatMap(r -> r.map((row, meta) -> 1))
                            .then(),
                    c -> Mono.from(c.close()));
        });
    }

    /** {@code host:port/database} of an r2dbc URL, for the probe's name (never the credentials). */
    static String where(String url) {
        try {
            ConnectionFactoryOptions o = ConnectionFactoryOptions.parse(url);
            Object host = o.getValue(ConnectionFactoryOptions.HOST);
            Object port = o.getValue(ConnectionFactoryOptions.PORT);
            Object db = o.getValue(ConnectionFactoryOptions.DATABASE);
            return host + (port == null ? "" : ":" + port) + (db == null ? "" : "/" + db);
        } catch (RuntimeException e) {
            return "(unparsable url)";
        }
    }
}
