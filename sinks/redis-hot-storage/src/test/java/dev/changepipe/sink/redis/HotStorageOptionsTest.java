package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class HotStorageOptionsTest {

    @Test
    void defaultsAreTheDocumentedConstants() {
        HotStorageOptions o = HotStorageOptions.defaults();
        assertThat(o.keyPrefix()).isEqualTo(HotStorageOptions.DEFAULT_KEY_PREFIX);
        assertThat(o.pipelineSize()).isEqualTo(HotStorageOptions.DEFAULT_PIPELINE_SIZE);
        assertThat(o.tombstoneTtl()).isEqualTo(Duration.ofDays(1));
        assertThat(o.modelHashTag()).isFalse();
        assertThat(o.sinkName()).isEqualTo("redis-hot-storage");
        assertThat(o.uniqueConstraints()).isEmpty();
    }

    @Test
    void constraintsAreSetsOfFieldsKeptOnceEach() {
        HotStorageOptions o = HotStorageOptions.builder()
                .uniqueConstraint("polls.choice", "question", "position")
                .uniqueConstraint("polls.choice", "position", "question")
                .uniqueConstraint("auth.user", "email")
                .build();
        assertThat(o.constraintsOf("polls.choice")).containsExactly(UniqueConstraint.of("position", "question"));
        assertThat(o.constraintsOf("auth.user")).containsExactly(UniqueConstraint.of("email"));
        assertThat(o.constraintsOf("other.model")).isEmpty();
        assertThat(o.toBuilder().build()).isEqualTo(o);
    }

    @Test
    void invalidOptionsAreRefusedNamingTheOption() {
        assertThatThrownBy(() -> HotStorageOptions.builder().pipelineSize(0).build()).hasMessageContaining("pipelineSize");
        assertThatThrownBy(() -> HotStorageOptions.builder().tombstoneTtl(Duration.ofSeconds(-1)).build())
                .hasMessageContaining("tombstoneTtl");
        assertThatThrownBy(() -> HotStorageOptions.builder().tombstoneTtl(Duration.ofNanos(5)).build())
                .hasMessageContaining("tombstoneTtl");
        assertThatThrownBy(() -> HotStorageOptions.builder().keyPrefix("{x}:").modelHashTag(true).build())
                .hasMessageContaining("keyPrefix");
        assertThatThrownBy(() -> HotStorageOptions.builder().sinkName(" ").build()).hasMessageContaining("sinkName");
        assertThatThrownBy(() -> HotStorageOptions.builder().uniqueConstraint("", "f").build())
                .hasMessageContaining("uniqueConstraints");
        assertThatThrownBy(() -> UniqueConstraint.of()).hasMessageContaining("at least one field");
        assertThatThrownBy(() -> UniqueConstraint.of("a", "a")).hasMessageContaining("given twice");
        assertThatThrownBy(() -> new UniqueConstraint(List.of(""))).hasMessageContaining("empty");
    }
}
