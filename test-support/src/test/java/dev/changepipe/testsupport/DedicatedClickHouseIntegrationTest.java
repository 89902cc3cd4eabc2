package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DedicatedClickHouseIntegrationTest {

  @Test
  void stopsAndStartsAgainOnTheSamePortKeepingItsData() {
    try (DedicatedClickHouse dedicated = ClickHouseServerExtension.startDedicated()) {
      ClickHouseServer server = dedicated.server();
      String db = server.createDatabase("dedicated");
      server.execute("CREATE TABLE " + db + ".t (x UInt8) ENGINE = MergeTree ORDER BY x");
      server.execute("INSERT INTO " + db + ".t VALUES (7)");
      assertThat(dedicated.tcpPort()).isPositive().isNotEqualTo(server.httpPort());

      dedicated.stop();
      assertThat(dedicated.isRunning()).isFalse();
      assertThatThrownBy(() -> server.execute("SELECT 1")).hasMessageContaining("unreachable");

      dedicated.start();
      assertThat(dedicated.isRunning()).isTrue();
      assertThat(server.execute("SELECT x FROM " + db + ".t FORMAT TabSeparated")).isEqualTo("7\n");
    }
  }
}
