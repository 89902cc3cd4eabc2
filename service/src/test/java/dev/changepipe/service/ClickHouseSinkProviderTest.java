package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.ClickHouseSinkProvider;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ClickHouseSinkProviderTest {

    private static ClickHouseSinkOptions optionsOf(String sinkKeys) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                connections:
                  clickhouse:
                    main:
                      endpoints: [http://127.0.0.1:8123]
                pipelines:
                  - name: polls
                    source: {type: oplog-file, path: polls.log}
                    sinks:
                      - type: clickhouse
                        connection: main
                %s""".formatted(sinkKeys.indent(8)));
        Components components = new Components(config, Path.of("/tmp"), new SimpleMeterRegistry(),
                ClickHouseSinkProviderTest.class.getClassLoader());
        Settings s = Components.section(config.pipelines().get(0).sinks().get(0));
        s.string("type");
        ClickHouseSink sink = (ClickHouseSink) new ClickHouseSinkProvider().create(s, components.context("polls"));
        sink.close().block();
        return sink.options();
    }

    @Test
    void theColumnsOfTheModesCanBeSetInTheConfig() {
        ClickHouseSinkOptions defaults = optionsOf("");
        assertThat(defaults.versionColumn()).isEqualTo(ClickHouseSinkOptions.DEFAULT_VERSION_COLUMN);
        assertThat(defaults.deletedColumn()).isEqualTo(ClickHouseSinkOptions.DEFAULT_DELETED_COLUMN);
        assertThat(defaults.signColumn()).isEqualTo(ClickHouseSinkOptions.DEFAULT_SIGN_COLUMN);
        ClickHouseSinkOptions set = optionsOf("versionColumn: ver\ndeletedColumn: removed\nsignColumn: sgn\n");
        assertThat(set.versionColumn()).isEqualTo("ver");
        assertThat(set.deletedColumn()).isEqualTo("removed");
        assertThat(set.signColumn()).isEqualTo("sgn");
    }

    @Test
    void theKeysPerReadBackQueryCanBeSetInTheConfig() {
        assertThat(optionsOf("").keysPerLookup()).isEqualTo(ClickHouseSinkOptions.DEFAULT_KEYS_PER_LOOKUP);
        assertThat(optionsOf("keysPerLookup: 250\n").keysPerLookup()).isEqualTo(250);
        assertThatThrownBy(() -> optionsOf("keysPerLookup: 0\n")).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).singleElement().satisfies(p ->
                        assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].keysPerLookup")));
    }

    @Test
    void aBlankColumnNameIsAnErrorNamingTheKey() {
        assertThatThrownBy(() -> optionsOf("versionColumn: \" \"\n")).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).singleElement().satisfies(p -> {
                    assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].versionColumn");
                    assertThat(p.message()).contains("must not be blank");
                }));
    }
}
