package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.source.storage.StorageOptions;
import dev.changepipe.source.storage.StorageSyncSourceProvider;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StorageSyncSourceProviderTest {

    @TempDir
    Path dir;

    private StorageOptions optionsOf(String sourceKeys) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                connections:
                  redis:
                    main:
                      uri: redis://127.0.0.1:6379
                  postgres:
                    app:
                      url: r2dbc:postgresql://app@127.0.0.1/app
                pipelines:
                  - name: sync
                    source:
                      type: storage-sync
                      connection: main
                      importKeys: {app.model: {}}
                      databases: {default: app}
                %s    sinks:
                      - type: noop
                """.formatted(sourceKeys.indent(6)));
        Components components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        Settings section = Components.section(config.pipelines().get(0).source());
        section.string("type");
        return StorageSyncSourceProvider.storage(section, components.context("sync")).options();
    }

    @Test
    void theLockTimeoutIsShortByDefaultConfigurableAndChecked() {
        assertThat(optionsOf("").lockTimeout()).isEqualTo(Duration.ofSeconds(5)).isEqualTo(StorageOptions.DEFAULT_LOCK_TIMEOUT);
        assertThat(optionsOf("lockTimeout: 2s\n").lockTimeout()).isEqualTo(Duration.ofSeconds(2));
        for (String bad : new String[] {"500ms", "11m", "soon"}) {
            assertThatThrownBy(() -> optionsOf("lockTimeout: " + bad + "\n"))
                    .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                            .satisfies(p -> assertThat(p.path()).isEqualTo("pipelines[0].source.lockTimeout")));
        }
        assertThatThrownBy(() -> optionsOf("lockTimeout: 500ms\n")).hasMessageContaining("from 1s to 10m, got 500ms");
    }
}
