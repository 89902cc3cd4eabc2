package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServerProcessTest {

  @TempDir
  Path dir;

  @Test
  void earlyExitFailsWithCommandAndLogTailAndMarksATakenPort() {
    ServerProcess process = ServerProcess.start("fake-server",
        List.of("sh", "-c", "echo starting; echo 'bind: Address already in use' >&2; exit 3"),
        dir, dir.resolve("out.log"), Map.of(), List.of(dir.resolve("missing.log")));

    assertThatThrownBy(() -> process.awaitReady(Duration.ofSeconds(30), () -> false))
        .isInstanceOfSatisfying(ServerStartupException.class, e -> {
          assertThat(e.portInUse()).isTrue();
          assertThat(e.getMessage())
              .contains("fake-server exited with code 3 before it was ready")
              .contains("command: sh -c 'echo starting;")
              .contains("starting")
              .contains("bind: Address already in use");
        });
  }

  @Test
  void notReadyBeforeTheDeadlineFailsAndStopKillsTheProcessTree() {
    ServerProcess process = ServerProcess.start("slow-server",
        List.of("sh", "-c", "sleep 300 & sleep 300; wait"),
        dir, dir.resolve("out.log"), Map.of(), List.of());
    assertThatThrownBy(() -> process.awaitReady(Duration.ofMillis(100), () -> false))
        .isInstanceOfSatisfying(ServerStartupException.class, e -> {
          assertThat(e.portInUse()).isFalse();
          assertThat(e.getMessage()).contains("slow-server was not ready after 0 s");
        });

    List<ProcessHandle> tree = process.handleAndDescendants();
    assertThat(tree).hasSizeGreaterThanOrEqualTo(2);
    process.stop();
    assertThat(tree).noneMatch(ProcessHandle::isAlive);
  }

  @Test
  void readyProcessIsAccepted() {
    ServerProcess process = ServerProcess.start("quick-server", List.of("sleep", "300"),
        dir, dir.resolve("out.log"), Map.of(), List.of());
    try {
      process.awaitReady(Duration.ofSeconds(30), () -> true);
    } finally {
      process.stop();
    }
  }
}
