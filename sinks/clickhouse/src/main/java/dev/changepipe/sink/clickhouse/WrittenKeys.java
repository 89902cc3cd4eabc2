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
 *       so a failed or cancelled write leaves its keys out (read back next time);</li>
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
    private long bytes;

    private record Key(String table, String key) {
    }

    WrittenKeys(int maxKeys, long maxBytes) {
        this.maxKeys = maxKeys;
        this.maxBytes = maxBytes;
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
        long size = 96 + 2L * key.length() + (visible == null ? 0 : estimate(visible));
        Written previous = lru.put(new Key(table, key), new Written(maxVersion, visible, size));
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

    /** Forgets everything about a table (its columns are read again: it may have been dropped and made again). */
    synchronized void forgetTable(String table) {
        bounds.remove(table);
        Iterator<Map.Entry<Key, Written>> it = lru.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Key, Written> e = it.next();
            if (e.getKey().table().equals(table)) {
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
