package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Rows go to the shard the {@code Distributed} table would send them to: the key modulo the sum of
 * the weights picks a slot, and each shard owns its weight's worth of consecutive slots, in order.
 */
class ShardRouterTest {

    @Test
    void aKeyGoesToTheShardThatOwnsItsSlotByWeight() {
        ShardRouter even = ShardRouter.of(List.of(1, 1));
        assertThat(List.of(0L, 1L, 2L, 3L).stream().map(even::shardOf)).containsExactly(0, 1, 0, 1);
        ShardRouter weighted = ShardRouter.of(List.of(1, 2));
        assertThat(List.of(0L, 1L, 2L, 3L, 4L, 5L).stream().map(weighted::shardOf)).containsExactly(0, 1, 1, 0, 1, 1);
    }

    @Test
    void aUInt64KeyAboveTheLargestLongIsTakenUnsigned() {
        ShardRouter router = ShardRouter.of(List.of(1, 2));
        // 2^64 - 1 = 18446744073709551615, which is 0 modulo 3: the first shard
        assertThat(router.shardOf(-1L)).isEqualTo(0);
        // 2^63 = 9223372036854775808, which is 2 modulo 3: the second shard
        assertThat(router.shardOf(Long.MIN_VALUE)).isEqualTo(1);
    }
}
