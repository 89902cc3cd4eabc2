package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import reactor.core.publisher.Mono;

@ExtendWith(PostgresServerExtension.class)
class PostgresSinkProviderIntegrationTest {

    private static Map<String, Mono<Void>> probesOf(Path dir, String url) {
        ServiceConfig config = new ConfigLoader(Map.of("PG_URL", url)::get).parse("""
                checkpoints:
                  directory: %s
                connections:
                  postgres:
                    main:
                      url: ${PG_URL}
                pipelines:
                  - name: pg
                    source: {type: counting, count: 10, chunkSize: 5}
                    sinks: [{type: postgres, connection: main}]
                """.formatted(dir.resolve("checkpoints")));
        Components components = new Components(config, dir, new SimpleMeterRegistry(), PostgresSinkProviderIntegrationTest.class.getClassLoader());
        Components.Built built = components.build(config.pipelines().get(0));
        built.sinks().forEach(s -> s.close().block());
        return built.probes();
    }

    @Test
    void theSinkRegistersAReadinessProbeThatRunsSelectOne(PostgresServer pg, @TempDir Path dir) throws Exception {
        Map<String, Mono<Void>> up = probesOf(dir, pg.r2dbcUrl());
        assertThat(up).containsOnlyKeys("postgres " + pg.host() + ":" + pg.port() + "/" + pg.database());
        up.values().iterator().next().block(Duration.ofSeconds(20));

        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Map<String, Mono<Void>> down = probesOf(dir, "r2dbc:postgresql://" + pg.user() + "@127.0.0.1:" + closedPort + "/x");
        assertThatThrownBy(() -> down.values().iterator().next().block(Duration.ofSeconds(20))).isNotNull();
    }
}
