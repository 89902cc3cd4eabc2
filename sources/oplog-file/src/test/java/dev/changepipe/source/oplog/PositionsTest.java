package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.Offset;
import org.junit.jupiter.api.Test;

class PositionsTest {

    @Test
    void offsetsIncreaseWithinAGenerationAcrossGenerationsAndToTheEndMarker() {
        Offset a = Positions.offset(1, 100, false);
        Offset end = Positions.offset(1, 100, true);
        Offset b = Positions.offset(1, 101, false);
        Offset nextGeneration = Positions.offset(2, 0, false);
        Offset huge = Positions.offset(1, Positions.MAX_POSITION, true);
        assertThat(a).isLessThan(end);
        assertThat(end).isLessThan(b);
        assertThat(huge).isLessThan(nextGeneration);
        assertThat(Positions.generation(huge)).isEqualTo(1);
        assertThat(Positions.position(huge)).isEqualTo(Positions.MAX_POSITION);
        assertThat(Positions.isEnd(end)).isTrue();
        assertThat(Positions.isEnd(a)).isFalse();
        Offset max = Positions.offset(Positions.MAX_GENERATION, Positions.MAX_POSITION, true);
        assertThat(max.value()).isPositive();
        assertThat(Positions.generation(max)).isEqualTo(Positions.MAX_GENERATION);
    }

    @Test
    void anOffsetReadsAsItsGenerationAndBytePosition() {
        assertThat(Positions.describe(Positions.offset(2, 1_048_576, false))).isEqualTo("generation 2, byte 1048576");
        assertThat(Positions.describe(Positions.offset(3, 77, true))).isEqualTo("generation 3, end of file at byte 77");
    }

    @Test
    void versionsIncreaseAcrossGenerations() {
        assertThat(Positions.version(1, Positions.MAX_POSITION)).isLessThan(Positions.version(2, 0));
        assertThat(Positions.version(Positions.MAX_GENERATION, Positions.MAX_POSITION)).isPositive();
        assertThatThrownBy(() -> Positions.version(1, Positions.MAX_POSITION + 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Positions.offset(Positions.MAX_GENERATION + 1, 0, false)).isInstanceOf(IllegalArgumentException.class);
    }
}
