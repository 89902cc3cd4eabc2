package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class WrittenKeysTest {

    private static Object[] row(String name) {
        return new Object[] {1L, name, 7L, 1L};
    }

    /** A key enters the map on its second write: writes it twice. */
    private static void written(WrittenKeys keys, String table, String key, long version, Object[] visible) {
        keys.put(table, key, version, visible);
        keys.put(table, key, version, visible);
    }

    @Test
    void aKeyWrittenOnceIsOnlyNotedAndRememberedWhenWrittenAgain() {
        WrittenKeys keys = new WrittenKeys(10, 1 << 20);
        for (int i = 0; i < 1000; i++) {
            keys.put("t", "once" + i, 1, row("a"));
        }
        assertThat(keys.size()).isZero();
        assertThat(keys.bytes()).isZero();
        keys.put("t", "twice", 1, row("a"));
        keys.put("t", "twice", 2, row("b"));
        keys.put("u", "once0", 1, row("a")); // another table's key of the same name
        assertThat(keys.size()).isEqualTo(1);
        WrittenKeys.Written twice = keys.take("t", List.of("twice", "once0")).get("twice");
        assertThat(twice.maxVersion()).isEqualTo(2);
        assertThat(twice.visible()).containsExactly(row("b"));
        keys.put("t", "twice", 3, row("c")); // taken out by a write and put back: remembered again
        assertThat(keys.take("t", List.of("twice")).get("twice").maxVersion()).isEqualTo(3);
    }

    @Test
    void takenKeysAreOutUntilPutBack() {
        WrittenKeys keys = new WrittenKeys(10, 1 << 20);
        written(keys, "t", "k1", 5, row("a"));
        written(keys, "t", "k2", 6, null);
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
            written(keys, "t", k, 1, row(k));
        }
        assertThat(keys.size()).isEqualTo(3);
        assertThat(keys.take("t", List.of("a")).isEmpty()).isTrue();
        long one = keys.bytes() / 3;
        WrittenKeys small = new WrittenKeys(100, 2 * one);
        for (String k : List.of("a", "b", "c")) {
            written(small, "t", k, 1, row(k));
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
        written(keys, "t", "k", 1, row("a"));
        written(keys, "u", "k", 1, row("a"));
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
