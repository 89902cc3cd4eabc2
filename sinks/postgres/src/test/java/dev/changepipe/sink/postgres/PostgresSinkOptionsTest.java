package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PostgresSinkOptionsTest {

    @Test
    void defaults() {
        PostgresSinkOptions o = PostgresSinkOptions.builder().build();
        assertThat(o.schema()).isEqualTo(PostgresSinkOptions.DEFAULT_SCHEMA);
        assertThat(o.versionColumn()).isEqualTo("changepipe_version");
        assertThat(o.tombstoneTable()).isEqualTo("changepipe_tombstones");
        assertThat(o.strictColumns()).isFalse();
        assertThat(o.maxRetries()).isEqualTo(PostgresSinkOptions.DEFAULT_MAX_RETRIES);
    }

    @Test
    void validationNamesTheOption() {
        assertThatThrownBy(() -> PostgresSinkOptions.builder().url("postgresql://x").build()).hasMessageContaining("url");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().schema("").build()).hasMessageContaining("schema");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().versionColumn("x".repeat(64)).build())
                .hasMessageContaining("versionColumn");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().tombstoneTable("a\0").build())
                .hasMessageContaining("tombstoneTable");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().maxPoolSize(0).build()).hasMessageContaining("maxPoolSize");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().maxRetries(-1).build()).hasMessageContaining("maxRetries");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().retryBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1))
                .build()).hasMessageContaining("retryMaxBackoff");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().column("a.b", "f", "changepipe_version").build())
                .hasMessageContaining("tables[a.b].columns[f]");
        assertThatThrownBy(() -> PostgresSinkOptions.builder().name(" ").build()).hasMessageContaining("name");
    }

    @Test
    void overridesAccumulatePerTable() {
        PostgresSinkOptions o = PostgresSinkOptions.builder().table("a.b", "t").column("a.b", "f", "c").build();
        assertThat(o.override("a.b").targetTable()).isEqualTo("t");
        assertThat(o.override("a.b").columns()).containsEntry("f", "c");
        assertThat(o.override("x.y")).isSameAs(TableOverride.NONE);
    }

    @Test
    void passwordsNeverAppearInToString() {
        assertThat(PostgresSinkOptions.builder().url("r2dbc:postgresql://u:p%40ss@h:1/d").build().toString())
                .doesNotContain("p%40ss").contains("u:***@h:1/d");
        assertThat(PostgresSinkOptions.redact("r2dbc:postgresql://u@h/d")).isEqualTo("r2dbc:postgresql://u@h/d");
    }
}
