package dev.changepipe.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class SettingsTest {

    private static Settings section(String json) throws Exception {
        return Settings.of("pipelines[0].source", new ObjectMapper().readTree(json));
    }

    @Test
    void sizesAndDurations() {
        assertThat(Settings.parseBytes("64MiB")).isEqualTo(64L << 20);
        assertThat(Settings.parseBytes("512 KB")).isEqualTo(512L << 10);
        assertThat(Settings.parseBytes("1048576")).isEqualTo(1L << 20);
        assertThat(Settings.parseBytes("1 parsec")).isEqualTo(-1);
        assertThat(Settings.parseDuration("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(Settings.parseDuration("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(Settings.parseDuration("PT1M")).isEqualTo(Duration.ofMinutes(1));
        assertThat(Settings.parseDuration("soon")).isNull();
    }

    @Test
    void theTypeNamesItsPathAndIsLeftOutOfABinding() throws Exception {
        Settings s = section("{\"type\": \"x\", \"count\": {\"a\": 1}}");
        assertThat(s.string("type")).isEqualTo("x");
        assertThatThrownBy(() -> s.string("count"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                        .satisfies(p -> assertThat(p.toString()).isEqualTo("pipelines[0].source.count: expected a string, got a mapping")));
        assertThatThrownBy(() -> s.string("label"))
                .isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                        .satisfies(p -> assertThat(p.path()).isEqualTo("pipelines[0].source.label")));
    }

    @Test
    void aBuildersRefusalBecomesAProblemAtTheKeyItsMessageNames() throws Exception {
        Settings s = section("{\"batchSize\": 0}");
        assertThatThrownBy(() -> s.build(() -> {
            throw new IllegalArgumentException("batchSize: must be at least 1");
        })).isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                .satisfies(p -> {
                    assertThat(p.path()).isEqualTo("pipelines[0].source.batchSize");
                    assertThat(p.message()).isEqualTo("must be at least 1");
                }));
        assertThatThrownBy(() -> s.build(() -> {
            throw new IllegalArgumentException("either a or b, not both");
        })).isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                .satisfies(p -> assertThat(p.path()).isEqualTo("pipelines[0].source")));
        assertThat(s.build(() -> "built")).isEqualTo("built");
        assertThatThrownBy(() -> s.build("importKeys.app.m", () -> {
            throw new IllegalArgumentException("batchSize: must be at least 1");
        })).isInstanceOfSatisfying(ConfigException.class, e -> assertThat(e.problems()).singleElement()
                .satisfies(p -> assertThat(p.path()).isEqualTo("pipelines[0].source.importKeys.app.m.batchSize")));
    }
}
