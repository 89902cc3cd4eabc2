package dev.changepipe.service;

import dev.changepipe.core.Sink;
import dev.changepipe.sink.postgres.PostgresSink;
import dev.changepipe.sink.postgres.PostgresSinkOptions;
import java.util.Map;

/**
 * {@code type: postgres}: the PostgreSQL sink (docs/postgres-sink.md). Keys: {@code connection}
 * (required; a name under {@code connections.postgres}, which holds {@code url}, an
 * {@code r2dbc:postgresql://} URL whose password is never logged), {@code schema},
 * {@code versionColumn}, {@code addVersionColumn}, {@code strictColumns}, {@code tables}
 * (source table: target table), {@code maxPoolSize}, {@code maxRetries}.
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
        PostgresSinkOptions.Builder b = PostgresSinkOptions.builder().url(url).name(s.string("name", "postgres"));
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
        PostgresSinkOptions options = Components.build(s, b::build);
        return PostgresSink.create(options);
    }
}
