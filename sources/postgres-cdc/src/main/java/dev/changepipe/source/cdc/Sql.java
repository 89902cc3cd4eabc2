package dev.changepipe.source.cdc;

import io.r2dbc.postgresql.api.PostgresqlConnection;
import io.r2dbc.postgresql.api.PostgresqlStatement;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/** The source's SQL helpers: every value is read as text. */
final class Sql {

    private Sql() {
    }

    /**
     * The rows of a query, each value as text; with {@code fetchSize} above 0, that many at a time, as
     * they are asked for; asked for on the connection's event loop ({@link Faults#requestedOn}).
     */
    static Flux<String[]> rows(PostgresqlConnection connection, Scheduler loop, String query, int fetchSize,
            Object... params) {
        PostgresqlStatement statement = connection.createStatement(query);
        if (fetchSize > 0) {
            statement.fetchSize(fetchSize);
        }
        for (int i = 0; i < params.length; i++) {
            statement.bind("$" + (i + 1), params[i]);
        }
        return Faults.requestedOn(loop, statement.execute().concatMap(r -> r.map((row, meta) -> {
            String[] out = new String[meta.getColumnMetadatas().size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = row.get(i, String.class);
            }
            return out;
        })));
    }

    static Mono<Void> execute(PostgresqlConnection connection, String statement) {
        return connection.createStatement(statement).execute().concatMap(r -> r.getRowsUpdated()).then();
    }

    /** The table's key columns, qualified by the alias {@code t}: {@code t."id", t."n"}. */
    static void keyList(StringBuilder q, TableShape table) {
        for (int i = 0; i < table.key.length; i++) {
            q.append(i == 0 ? "t." : ", t.").append(TableName.quote(table.columns[table.key[i]]));
        }
    }
}
