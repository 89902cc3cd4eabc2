package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class EnvironmentUriTest {

  @Test
  void postgresUriWithPasswordIsDecoded() {
    PostgresServer server =
        PostgresServerExtension.parse("postgresql://app:p%40ss:w@db.example:6543/orders");
    assertThat(server).isEqualTo(new PostgresServer("db.example", 6543, "app", "p@ss:w", "orders"));
    assertThat(server.r2dbcUrl()).isEqualTo("r2dbc:postgresql://app:p%40ss%3Aw@db.example:6543/orders");
  }

  @Test
  void postgresUriDefaults() {
    assertThat(PostgresServerExtension.parse("postgres://127.0.0.1"))
        .isEqualTo(new PostgresServer("127.0.0.1", 5432, "postgres", null, "postgres"));
    assertThat(PostgresServerExtension.parse("postgresql://me@[::1]:5433/"))
        .isEqualTo(new PostgresServer("::1", 5433, "me", null, "postgres"));
  }

  @Test
  void wrongSchemeIsRejectedNamingTheVariable() {
    assertThatThrownBy(() -> PostgresServerExtension.parse("http://127.0.0.1:5432/x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(PostgresServerExtension.ENV);
  }

  @Test
  void urisOfTheRecords() {
    assertThat(new RedisServer("127.0.0.1", 6380).uri()).isEqualTo("redis://127.0.0.1:6380");
    assertThat(new RedisServer("::1", 6380).uri()).isEqualTo("redis://[::1]:6380");
    assertThat(new ClickHouseServer("127.0.0.1", 8124).httpUrl())
        .isEqualTo("http://127.0.0.1:8124");
  }

  @Test
  void uniqueNamesAreSafeAndDistinct() {
    assertThat(Commands.uniqueName("Sink-Tests.ch")).matches("sink_tests_ch_[0-9a-f]{12}");
    assertThat(Commands.uniqueName("1st")).matches("t_1st_[0-9a-f]{12}");
    assertThat(Commands.uniqueName("x".repeat(100))).hasSize(40 + 13);
    assertThat(Commands.uniqueName("a")).isNotEqualTo(Commands.uniqueName("a"));
  }
}
