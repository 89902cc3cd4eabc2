package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WrittenKeysTest {

    private static Object[] row(String name) {
        return new Object[] {1L, name, 7L, 1L};
    }

    @Test
    void takenKeysAreOutUntilPutBack() {
        WrittenKeys keys = new WrittenKeys(10, 1 << 20);
        keys.put("t", "k1", 5, row("a"));
        keys.put("t", "k2", 6, null);
        assertThat(keys.take("t", List.of("k1", "k3")).keySet()).containsExactly("k1");
        assertThat(keys.take("t", List.of("k1")).isEmpty()).isTrue(); // a failed write never puts it back
        assertThat(keys.take("other", List.of("k2")).isEmpty()).isTrue(); // per table
        WrittenKeys.Written k2 = keys.take("t", List.of("k2")).get("k2");
        assertThat(k2.maxVersion()).isEqualTo(6);
        assertThat(k2.visible()).isNull();
        assertThat(keys.size()).isZero();
        assertThat(keys.bytes()).isZero();
    }

    @Test
    void theLeastRecentlyUsedKeysGoFirstWhenTheKeyOrByteBoundIsReached() {
        WrittenKeys keys = new WrittenKeys(3, 1 << 20);
        for (String k : List.of("a", "b", "c", "d")) {
            keys.put("t", k, 1, row(k));
        }
        assertThat(keys.size()).isEqualTo(3);
        assertThat(keys.take("t", List.of("a")).isEmpty()).isTrue();
        long one = keys.bytes() / 3;
        WrittenKeys small = new WrittenKeys(100, 2 * one);
        for (String k : List.of("a", "b", "c")) {
            small.put("t", k, 1, row(k));
        }
        assertThat(small.size()).isEqualTo(2);
        assertThat(small.bytes()).isLessThanOrEqualTo(2 * one);
        assertThat(small.take("t", Set.of("a", "b", "c")).keySet()).containsExactlyInAnyOrder("b", "c");
    }

    @Test
    void offWhenEitherBoundIsZero() {
        WrittenKeys keys = new WrittenKeys(0, 0);
        keys.put("t", "k", 1, row("a"));
        assertThat(keys.enabled()).isFalse();
        assertThat(keys.size()).isZero();
    }

    @Test
    void forgettingATableDropsItsKeysAndItsBound() {
        WrittenKeys keys = new WrittenKeys(10, 1 << 20);
        keys.put("t", "k", 1, row("a"));
        keys.put("u", "k", 1, row("a"));
        keys.raiseBound("t", 5, false);
        keys.forgetTable("t");
        assertThat(keys.bound("t")).isNull();
        assertThat(keys.take("t", List.of("k")).isEmpty()).isTrue();
        assertThat(keys.take("u", List.of("k")).keySet()).containsExactly("k");
    }

    @Test
    void theKeyBoundOnlyRisesSignedOrUnsigned() {
        WrittenKeys keys = new WrittenKeys(10, 1 << 20);
        keys.raiseBound("t", 5, false);
        keys.raiseBound("t", 3, false);
        keys.raiseBound("t", -9, false);
        assertThat(keys.bound("t")).isEqualTo(5);
        keys.raiseBound("u", 5, true);
        keys.raiseBound("u", -1, true); // UInt64 max
        keys.raiseBound("u", 7, true);
        assertThat(keys.bound("u")).isEqualTo(-1);
    }
}
