package dev.changepipe.sink.clickhouse;

import java.util.ArrayList;
import java.util.List;

/**
 * Where the {@code Distributed} table would send a row, for writing it to that shard's local table
 * directly ({@code shards} of the connection): the sharding key's value modulo the sum of the shards'
 * weights picks a slot, and each shard owns as many consecutive slots as its weight, in
 * {@code remote_servers} order, as ClickHouse's own selector does. Only an unsigned integer key is
 * routed (its value is the key; an expression would have to be computed as ClickHouse computes it).
 * Immutable.
 */
final class ShardRouter {

    private final int[] slotToShard;

    private ShardRouter(int[] slotToShard) {
        this.slotToShard = slotToShard;
    }

    /** A router over shards of these weights, in order; every weight positive. */
    static ShardRouter of(List<Integer> weights) {
        List<Integer> slots = new ArrayList<>();
        for (int shard = 0; shard < weights.size(); shard++) {
            for (int w = 0; w < weights.get(shard); w++) {
                slots.add(shard);
            }
        }
        return new ShardRouter(slots.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The index of the shard (0-based, {@code remote_servers} order) of a row whose key is {@code value}. */
    int shardOf(long value) {
        return slotToShard[(int) Long.remainderUnsigned(value, slotToShard.length)];
    }

    /**
     * The index of the column {@code shardBy} names (plain or in backquotes) in the table, or -1 when
     * it is not one column (an expression).
     */
    static int column(String shardBy, TableWriter table) {
        String name = shardBy.trim();
        if (name.length() > 2 && name.startsWith("`") && name.endsWith("`")) {
            name = name.substring(1, name.length() - 1);
        }
        for (int c = 0; c < table.columns().size(); c++) {
            if (table.columns().get(c).name().equals(name)) {
                return c;
            }
        }
        return -1;
    }
}
