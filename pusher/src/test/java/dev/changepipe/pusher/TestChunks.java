package dev.changepipe.pusher;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** Chunks for pusher tests: each item's key names its origin, offset and index, so order is checkable. */
final class TestChunks {

    private TestChunks() {
    }

    static List<ChangeItem> itemsOf(String origin, long offset, int count) {
        List<ChangeItem> items = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            items.add(ChangeItem.insert("app.item", Map.of("id", origin + "/" + offset + "/" + i),
                    Map.of("value", i), offset * 1000 + i));
        }
        return items;
    }

    /** A parsed chunk of {@code count} items. */
    static Chunk items(String origin, long offset, int count, boolean completed) {
        return Chunk.of(origin, Offset.of(offset), itemsOf(origin, offset, count), completed);
    }

    /** A parsed chunk of {@code count} items with an exact size. */
    static Chunk sized(String origin, long offset, long size, int count) {
        return Chunk.of(origin, Offset.of(offset), size, itemsOf(origin, offset, count), false);
    }

    /**
     * A raw chunk whose parse runs {@code parse} (which may block or compute) and yields its items,
     * which hold as many bytes together as the raw chunk (so the in-flight charge does not change).
     */
    static Chunk raw(String origin, long offset, long size, int count, boolean completed, Runnable parse) {
        List<ChangeItem> items = new ArrayList<>(count);
        for (ChangeItem item : itemsOf(origin, offset, count)) {
            long share = size / count + (items.size() < size % count ? 1 : 0);
            items.add(new ChangeItem(item.kind(), item.table(), item.key(), item.values(), item.version(), null, share));
        }
        return Chunk.raw(origin, Offset.of(offset), size, () -> {
            parse.run();
            return items;
        }, completed);
    }

    /**
     * A raw chunk of {@code size} bytes that parses at once into {@code count} items of {@code itemBytes}
     * each: what a raw byte becomes once parsed is {@code count * itemBytes / size}.
     */
    static Chunk rawOfItemSize(String origin, long offset, long size, int count, long itemBytes) {
        return Chunk.raw(origin, Offset.of(offset), size, () -> itemsOf(origin, offset, count).stream()
                .map(i -> new ChangeItem(i.kind(), i.table(), i.key(), i.values(), i.version(), null, itemBytes))
                .toList(), false);
    }

    /** A raw chunk whose parse fails. */
    static Chunk failingParse(String origin, long offset, Supplier<RuntimeException> error) {
        return Chunk.raw(origin, Offset.of(offset), 10, () -> {
            throw error.get();
        }, false);
    }

    /** The origin/offset an item of a test chunk came from. */
    static String chunkOf(ChangeItem item) {
        String id = (String) item.key().get("id");
        return id.substring(0, id.lastIndexOf('/'));
    }
}
