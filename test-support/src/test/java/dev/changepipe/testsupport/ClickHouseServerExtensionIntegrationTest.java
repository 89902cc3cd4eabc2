package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import com.clickhouse.client.api.Client;
import com.clickhouse.client.api.insert.InsertResponse;
import com.clickhouse.client.api.query.QueryResponse;
import com.clickhouse.data.ClickHouseFormat;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(ClickHouseServerExtension.class)
class ClickHouseServerExtensionIntegrationTest {

  private static final long TIMEOUT_SECONDS = 30;

  @Test
  @SuppressWarnings("try") // QueryResponse.close() declares Exception
  void insertedRowsReadBack(ClickHouseServer clickhouse) throws Exception {
    String database = clickhouse.createDatabase("smoke");
    String table = database + ".item";

    try (Client client = new Client.Builder()
        .addEndpoint(clickhouse.httpUrl())
        .setUsername("default")
        .setPassword("")
        .compressServerResponse(false) // 18.16 answers compress=1 with an empty body
        .build()) {
      client.query("CREATE TABLE " + table + " (id UInt32, name String)"
              + " ENGINE = MergeTree ORDER BY id")
          .get(TIMEOUT_SECONDS, TimeUnit.SECONDS).close();

      byte[] tsv = "1\tone\n2\ttwo\n3\tthree\n".getBytes(StandardCharsets.UTF_8);
      try (InsertResponse inserted = client.insert(table, new ByteArrayInputStream(tsv),
          ClickHouseFormat.TabSeparated).get(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        assertThat(inserted).isNotNull();
      }

      String body;
      try (QueryResponse response = client.query(
              "SELECT id, name FROM " + table + " ORDER BY id FORMAT TabSeparated")
          .get(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        body = new String(response.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      }
      assertThat(body).isEqualTo("1\tone\n2\ttwo\n3\tthree\n");
    }
  }

  @Test
  void executeAnswersOverHttp(ClickHouseServer clickhouse) {
    assertThat(clickhouse.httpUrl()).isEqualTo("http://" + clickhouse.host() + ":"
        + clickhouse.httpPort());
    assertThat(clickhouse.execute("SELECT 40 + 2").trim()).isEqualTo("42");
  }
}
