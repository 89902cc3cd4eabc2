package dev.changepipe.sink.postgres;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import io.r2dbc.postgresql.PostgresqlConnectionFactoryProvider;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.ConnectionFactoryOptions;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code type: postgres}: the PostgreSQL sink (docs/postgres-sink.md); its keys are
 * {@link PostgresSinkConfig}'s. Registers a readiness probe that opens a connection and runs
 * {@code SELECT 1}.
 */
public final class PostgresSinkProvider implements SinkProvider {

    @Override
    public String type() {
        return "postgres";
    }

    @Override
    public Class<PostgresSinkConfig> options() {
        return PostgresSinkConfig.class;
    }

    @Override
    public Sink create(Settings s, ServiceContext context) {
        PostgresSinkConfig c = s.bind(PostgresSinkConfig.class);
        String url = context.connection(s.pathOf("connection"), c.connection(), PostgresSinkConfig.Server.class).url();
        PostgresSinkOptions.Builder b = PostgresSinkOptions.builder().url(url).name(c.name())
                .schema(c.schema())
                .versionColumn(c.versionColumn())
                .addVersionColumn(c.addVersionColumn())
                .strictColumns(c.strictColumns())
                .maxPoolSize(c.maxPoolSize())
                .maxRetries(c.maxRetries())
                .onBadRecord(c.onBadRecord())
                .deadLetters(context.deadLetters());
        c.tables().forEach(b::table);
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
