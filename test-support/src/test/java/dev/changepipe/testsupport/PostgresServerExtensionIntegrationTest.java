package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import io.r2dbc.postgresql.PostgresqlConnectionConfiguration;
import io.r2dbc.postgresql.PostgresqlConnectionFactory;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.Result;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

@ExtendWith(PostgresServerExtension.class)
class PostgresServerExtensionIntegrationTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  @Test
  void createdDatabaseTakesATableAndRows(PostgresServer postgres) {
    String database = postgres.createDatabase("Smoke-Test");
    assertThat(database).matches("smoke_test_[0-9a-f]{12}");

    List<String> names = withConnection(postgres, database, connection ->
        Flux.from(connection.createStatement(
                "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)").execute())
            .flatMap(Result::getRowsUpdated)
            .thenMany(Flux.from(connection.createStatement(
                    "INSERT INTO item (id, name) VALUES ($1, $2), ($3, $4)")
                .bind("$1", 1).bind("$2", "one")
                .bind("$3", 2).bind("$4", "two")
                .execute()))
            .flatMap(Result::getRowsUpdated)
            .thenMany(Flux.from(connection.createStatement(
                "SELECT name FROM item ORDER BY id").execute()))
            .flatMap(result -> result.map((row, meta) -> row.get("name", String.class))));

    assertThat(names).containsExactly("one", "two");
  }

  @Test
  void walLevelIsLogical(PostgresServer postgres) {
    List<String> walLevel = withConnection(postgres, postgres.database(), connection ->
        Flux.from(connection.createStatement("SHOW wal_level").execute())
            .flatMap(result -> result.map((row, meta) -> row.get(0, String.class))));

    assertThat(walLevel).containsExactly("logical");
  }

  @Test
  void createdDatabasesAreDistinct(PostgresServer postgres) {
    assertThat(postgres.createDatabase("same")).isNotEqualTo(postgres.createDatabase("same"));
  }

  private static <T> List<T> withConnection(PostgresServer postgres, String database,
      Function<Connection, Publisher<T>> work) {
    PostgresqlConnectionConfiguration.Builder config = PostgresqlConnectionConfiguration.builder()
        .host(postgres.host())
        .port(postgres.port())
        .username(postgres.user())
        .database(database);
    if (postgres.password() != null) {
      config.password(postgres.password());
    }
    PostgresqlConnectionFactory factory = new PostgresqlConnectionFactory(config.build());
    return Flux.usingWhen(factory.create(), work, Connection::close)
        .collectList()
        .block(TIMEOUT);
  }
}
