package dev.changepipe.core;

import java.util.List;
import java.util.Objects;

/**
 * A unit of work from one origin: a list of {@link ChangeItem}s, or {@link RawRecords} that the
 * pusher's parse stage turns into items. Immutable.
 *
 * <p>A chunk is acknowledged as a whole. Its {@code offset} is unique within its {@code origin} and
 * offsets of one origin increase in the order the chunks are pushed; it is the position a source
 * resumes after once the chunk is acknowledged. {@code size} counts the bytes the chunk holds in memory
 * while in flight and is what the pusher's memory bound is measured in; a chunk that holds anything
 * has a positive size. {@code completed} marks the last chunk of its origin (the end of a file that
 * will not grow, the end of a bounded batch): once it and every earlier chunk of the origin are
 * acknowledged, the origin is done. A completed chunk may be empty.
 *
 * <p>A parsed chunk may be {@linkplain #prepared prepared} by the sink that will write it: its items
 * replaced by the sink's own form of them (ClickHouse: the encoded rows), which only that sink reads.
 * {@link #itemCount()} still counts the items.
 */
public final class Chunk {

    private final String origin;
    private final Offset offset;
    private final long size;
    private final boolean completed;
    private final List<ChangeItem> items;
    private final RawRecords raw;
    private final int itemCount;
    private final Object prepared;
    private final long preparedBytes;

    private Chunk(String origin, Offset offset, long size, boolean completed, List<ChangeItem> items, RawRecords raw) {
        this(origin, offset, size, completed, items, raw, items.size(), null, 0);
    }

    private Chunk(String origin, Offset offset, long size, boolean completed, List<ChangeItem> items, RawRecords raw,
            int itemCount, Object prepared, long preparedBytes) {
        this.origin = Objects.requireNonNull(origin, "origin");
        this.offset = Objects.requireNonNull(offset, "offset");
        if (size < 0) {
            throw new IllegalArgumentException("chunk " + origin + "@" + offset + ": size must not be negative: " + size);
        }
        if (size == 0 && (raw != null || !items.isEmpty())) {
            throw new IllegalArgumentException("chunk " + origin + "@" + offset + " holds data but has size 0");
        }
        this.size = size;
        this.completed = completed;
        this.items = items;
        this.raw = raw;
        this.itemCount = itemCount;
        this.prepared = prepared;
        this.preparedBytes = preparedBytes;
    }

    /** A chunk of parsed items whose size is the sum of the items' sizes. */
    public static Chunk of(String origin, Offset offset, List<ChangeItem> items, boolean completed) {
        long size = 0;
        for (ChangeItem item : items) {
            size += item.sizeBytes();
        }
        return new Chunk(origin, offset, size, completed, List.copyOf(items), null);
    }

    /** A chunk of parsed items with an explicit size. */
    public static Chunk of(String origin, Offset offset, long size, List<ChangeItem> items, boolean completed) {
        return new Chunk(origin, offset, size, completed, List.copyOf(items), null);
    }

    /** A chunk of raw records, parsed by the pusher; {@code size} is the bytes the records hold. */
    public static Chunk raw(String origin, Offset offset, long size, RawRecords raw, boolean completed) {
        return new Chunk(origin, offset, size, completed, List.of(), Objects.requireNonNull(raw, "raw"));
    }

    /** An empty chunk that marks the end of an origin (an empty file, an empty batch). */
    public static Chunk end(String origin, Offset offset) {
        return new Chunk(origin, offset, 0, true, List.of(), null);
    }

    public String origin() {
        return origin;
    }

    public Offset offset() {
        return offset;
    }

    public long size() {
        return size;
    }

    public boolean completed() {
        return completed;
    }

    /**
     * The parsed items; empty for a chunk that is not {@linkplain #isParsed() parsed} yet and for a
     * {@linkplain #prepared prepared} one.
     */
    public List<ChangeItem> items() {
        return items;
    }

    /** How many items the chunk holds: its items, or the items its prepared form was made of. */
    public int itemCount() {
        return itemCount;
    }

    /** The form a sink {@linkplain Sink#prepare prepared} the items in, or {@code null}. */
    public Object prepared() {
        return prepared;
    }

    /** An estimate of the memory {@link #prepared()} holds; 0 for a chunk that is not prepared. */
    public long preparedBytes() {
        return preparedBytes;
    }

    /**
     * This parsed chunk with its items replaced by a sink's form of them, which holds about
     * {@code bytes} of memory; same origin, offset, size and item count.
     */
    public Chunk prepared(Object form, long bytes) {
        if (raw != null) {
            throw new IllegalStateException("chunk " + origin + "@" + offset + " is not parsed yet");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes must not be negative: " + bytes);
        }
        return new Chunk(origin, offset, size, completed, List.of(), null, itemCount, Objects.requireNonNull(form, "form"),
                bytes);
    }

    /** Whether the items are available without parsing. */
    public boolean isParsed() {
        return raw == null;
    }

    /** The raw records, or {@code null} for a parsed chunk. */
    public RawRecords raw() {
        return raw;
    }

    /** This chunk with the given parsed items in place of its raw records; same origin, offset, size. */
    public Chunk withItems(List<ChangeItem> parsed) {
        return new Chunk(origin, offset, size, completed, List.copyOf(parsed), null);
    }

    @Override
    public String toString() {
        return "Chunk[" + origin + "@" + offset + ", " + size + " bytes"
                + (raw != null ? ", raw" : ", " + itemCount + " items" + (prepared != null ? " prepared" : ""))
                + (completed ? ", completed" : "") + "]";
    }
}
