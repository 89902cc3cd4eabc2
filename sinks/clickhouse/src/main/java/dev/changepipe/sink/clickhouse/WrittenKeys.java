package dev.changepipe.sink.clickhouse;

import java.math.BigDecimal;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the collapsing mode knows of keys without reading ClickHouse, per target table, for one sink
 * instance (a new instance starts empty):
 *
 * <ul>
 *   <li>the keys this sink wrote last, each with its highest version and the visible row as written
 *       (or none after a delete): a least-recently-used map bounded by keys and by estimated bytes. A
 *       write takes its keys out before it sends anything and puts them back only once it completed,
 *       so a failed or cancelled write leaves its keys out (read back next time). A key enters the map
 *       only when it is written a second time while its first write is still noted in {@link #seen}
 *       (a hash in an array slot, no objects): a sync of keys that each change once (the common bulk
 *       case) would otherwise fill the map with rows never asked for again, and keeping them cost a
 *       quarter of the collapsing mode's CPU in the storage-sync benchmark. A key that changes often is
 *       read back once more, then remembered;</li>
 *   <li>for a table keyed by one integer column, a bound above which the table holds no key: the
 *       highest key in the table when first asked ({@code SELECT max(key)}), raised by every key this
 *       sink is about to send, before it is sent (so a write that fails, even after the server took
 *       some of its rows, leaves its keys at or below the bound). A key above it has no row at all.</li>
 * </ul>
 *
 * Both hold only while this sink is the only writer of those keys (the collapsing mode assumes it
 * anyway: two writers would cancel the same row twice). Thread safe (writes of one table are serial;
 * the lock is uncontended).
 */
final class WrittenKeys {

    /** A key's state as this sink wrote it: its highest version and its visible row (null: none). */
    record Written(long maxVersion, Object[] visible, long bytes) {
    }

    private final int maxKeys;
    private final long maxBytes;
    private final LinkedHashMap<Key, Written> lru = new LinkedHashMap<>(1024, 0.75f, true);
    private final Map<String, Long> bounds = new HashMap<>();
    /** Hashes of keys written once (0: empty slot); a newer key takes an older one's slot. */
    private final long[] seen;
    private long bytes;

    /**
     * A table and a key. A plain class, not a record: a record's {@code equals} and {@code hashCode} go
     * through {@code ObjectMethods} method handles, which showed in profiles of every map operation.
     */
    private static final class Key {
        final String table;
        final String key;
        private final int hash;

        Key(String table, String key) {
            this.table = table;
            this.key = key;
            this.hash = 31 * table.hashCode() + key.hashCode();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && hash == k.hash && key.equals(k.key) && table.equals(k.table);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    WrittenKeys(int maxKeys, long maxBytes) {
        this.maxKeys = maxKeys;
        this.maxBytes = maxBytes;
        // twice as many slots as remembered keys, a power of two, at most 2^20 (8 MiB)
        int slots = Integer.highestOneBit(Math.max(1, Math.min(1 << 19, maxKeys)) * 2 - 1) << 1;
        this.seen = new long[enabled() ? slots : 0];
    }

    boolean enabled() {
        return maxKeys > 0 && maxBytes > 0;
    }

    /** Takes the known states of these keys out (they are untrusted until put back): key to state. */
    synchronized Map<String, Written> take(String table, Collection<String> keys) {
        Map<String, Written> found = new HashMap<>();
        if (lru.isEmpty()) {
            return found;
        }
        for (String key : keys) {
            Written w = lru.remove(new Key(table, key));
            if (w != null) {
                bytes -= w.bytes();
                found.put(key, w);
            }
        }
        return found;
    }

    /** Remembers the state of a key after a completed write (a row that left out columns is not kept). */
    synchronized void put(String table, String key, long maxVersion, Object[] visible) {
        if (!enabled()) {
            return;
        }
        Key k = new Key(table, key);
        if (!lru.containsKey(k) && firstWrite(k)) {
            return;
        }
        long size = 96 + 2L * key.length() + (visible == null ? 0 : estimate(visible));
        Written previous = lru.put(k, new Written(maxVersion, visible, size));
        if (previous != null) {
            bytes -= previous.bytes();
        }
        bytes += size;
        Iterator<Written> eldest = lru.values().iterator();
        while ((lru.size() > maxKeys || bytes > maxBytes) && eldest.hasNext()) {
            bytes -= eldest.next().bytes();
            eldest.remove();
        }
    }

    /** Notes a key's write in {@link #seen}; whether it was not noted there already. */
    private boolean firstWrite(Key k) {
        long h = ((long) k.table.hashCode() << 32 | (k.key.hashCode() & 0xffffffffL)) * 0x9E3779B97F4A7C15L;
        h = h ^ (h >>> 29) | 1;
        int slot = (int) (h >>> 33) & (seen.length - 1);
        if (seen[slot] == h) {
            return false;
        }
        seen[slot] = h;
        return true;
    }

    /** Forgets everything about a table (its columns are read again: it may have been dropped and made again). */
    synchronized void forgetTable(String table) {
        bounds.remove(table);
        Iterator<Map.Entry<Key, Written>> it = lru.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Key, Written> e = it.next();
            if (e.getKey().table.equals(table)) {
                bytes -= e.getValue().bytes();
                it.remove();
            }
        }
    }

    /** The table's key bound, or null when not known yet. */
    synchronized Long bound(String table) {
        return bounds.get(table);
    }

    /** Raises the table's key bound (or sets it first); {@code unsigned} compares as UInt64. */
    synchronized void raiseBound(String table, long key, boolean unsigned) {
        bounds.merge(table, key, (a, b) -> (unsigned ? Long.compareUnsigned(a, b) : Long.compare(a, b)) >= 0 ? a : b);
    }

    synchronized int size() {
        return lru.size();
    }

    synchronized long bytes() {
        return bytes;
    }

    /** A rough heap size of a row of canonical values. */
    static long estimate(Object[] values) {
        long size = 16 + 8L * values.length;
        for (Object v : values) {
            size += estimateValue(v);
        }
        return size;
    }

    private static long estimateValue(Object v) {
        if (v == null) {
            return 0;
        }
        if (v instanceof String s) {
            return 48 + s.length();
        }
        if (v instanceof byte[] b) {
            return 16 + b.length;
        }
        if (v instanceof BigDecimal) {
            return 64;
        }
        if (v instanceof List<?> list) {
            long size = 40 + 8L * list.size();
            for (Object e : list) {
                size += estimateValue(e);
            }
            return size;
        }
        return 24;
    }
}
