package dev.changepipe.pusher;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.OriginProgress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What is in flight, per origin and in total, and how far each origin is acknowledged. Not thread
 * safe: the pushers call it under their own lock.
 *
 * <p>An origin's committable offset is its low watermark: the highest offset at or below which every
 * registered chunk is acknowledged, whatever order the acks came in. An origin is done once its
 * completed chunk was registered and every chunk of it acknowledged; done is never reset. Every
 * method that refuses (an ack of a chunk not in flight, a chunk out of order) throws before changing
 * anything.
 */
final class ProgressState {

    private final Map<String, Origin> origins = new LinkedHashMap<>();
    private long inFlightBytes;
    private int inFlightChunks;

    /** Checks that the chunk may be registered, without registering it. */
    void check(Chunk chunk) {
        Origin origin = origins.get(chunk.origin());
        if (origin == null) {
            return;
        }
        if (origin.completedPushed) {
            throw new IllegalArgumentException("origin " + chunk.origin() + " was already completed by its chunk at "
                    + origin.lastPushed + "; chunk at " + chunk.offset() + " pushed after it");
        }
        if (origin.lastPushed != null && chunk.offset().compareTo(origin.lastPushed) <= 0) {
            throw new IllegalArgumentException("origin " + chunk.origin() + ": chunk offset " + chunk.offset()
                    + " does not increase (last pushed " + origin.lastPushed + ")");
        }
    }

    /** Records a chunk as admitted and in flight. */
    void register(Chunk chunk) {
        check(chunk);
        Origin origin = origins.computeIfAbsent(chunk.origin(), Origin::new);
        origin.inFlight.put(chunk.offset().value(), new long[] {chunk.size(), chunk.size()});
        origin.inFlightBytes += chunk.size();
        origin.lastPushed = chunk.offset();
        if (chunk.completed()) {
            origin.completedPushed = true;
        }
        inFlightBytes += chunk.size();
        inFlightChunks++;
    }

    /**
     * Forgets a registered chunk that will never be acknowledged (a push that was cancelled while its
     * chunk was being written by the sync pusher). Only the origin's last pushed chunk may be withdrawn.
     */
    void withdraw(Chunk chunk) {
        Origin origin = origins.get(chunk.origin());
        if (origin == null || !origin.inFlight.containsKey(chunk.offset().value())
                || !chunk.offset().equals(origin.lastPushed)) {
            throw new IllegalStateException("cannot withdraw " + chunk + ": it is not the last chunk in flight of its origin");
        }
        long charged = origin.inFlight.remove(chunk.offset().value())[1];
        origin.inFlightBytes -= charged;
        inFlightBytes -= charged;
        inFlightChunks--;
        if (chunk.completed()) {
            origin.completedPushed = false;
        }
        long last = Long.MIN_VALUE;
        if (!origin.inFlight.isEmpty()) {
            last = origin.inFlight.lastKey();
        }
        if (!origin.acked.isEmpty()) {
            last = Math.max(last, origin.acked.last());
        }
        if (origin.committable != null) {
            last = Math.max(last, origin.committable);
        }
        origin.lastPushed = last == Long.MIN_VALUE ? null : Offset.of(last);
        if (origin.lastPushed == null && origin.ackedChunks == 0) {
            origins.remove(chunk.origin());
        }
    }

    /**
     * Records the acknowledgement of a chunk in flight and returns the ack to deliver.
     *
     * @param items how many items the chunk held
     * @throws IllegalStateException for a chunk that is not in flight (acknowledged before, or never
     *     registered); nothing is changed then
     */
    Ack ack(Chunk chunk, int items) {
        Origin origin = origins.get(chunk.origin());
        long offset = chunk.offset().value();
        if (origin == null || !origin.inFlight.containsKey(offset)) {
            boolean before = origin != null
                    && ((origin.committable != null && offset <= origin.committable) || origin.acked.contains(offset));
            throw new IllegalStateException((before ? "double ack" : "unknown ack") + " of chunk " + chunk.origin()
                    + "@" + chunk.offset() + ": it is not in flight");
        }
        long[] sizes = origin.inFlight.get(offset);
        if (sizes[0] != chunk.size()) {
            throw new IllegalStateException("ack of chunk " + chunk.origin() + "@" + chunk.offset() + " with size "
                    + chunk.size() + " but " + sizes[0] + " bytes were admitted under that offset");
        }
        origin.inFlight.remove(offset);
        long size = sizes[1];
        origin.inFlightBytes -= size;
        inFlightBytes -= size;
        inFlightChunks--;
        origin.ackedChunks++;
        origin.acked.add(offset);
        // Advance the low watermark over every acknowledged offset below the lowest one in flight.
        Long watermark = origin.inFlight.isEmpty() ? origin.acked.last() : origin.acked.lower(origin.inFlight.firstKey());
        if (watermark != null) {
            origin.committable = watermark;
            origin.acked.headSet(watermark, true).clear();
        }
        if (origin.completedPushed && origin.inFlight.isEmpty()) {
            origin.done = true;
        }
        return new Ack(chunk.origin(), chunk.offset(),
                origin.committable == null ? null : Offset.of(origin.committable), origin.done, items);
    }

    /**
     * Charges a chunk in flight with {@code bytes} instead of what it was charged so far: its parsed
     * size, once parsing replaced its raw records by items.
     *
     * @throws IllegalStateException for a chunk that is not in flight; nothing is changed then
     */
    void charge(Chunk chunk, long bytes) {
        Origin origin = origins.get(chunk.origin());
        long[] sizes = origin == null ? null : origin.inFlight.get(chunk.offset().value());
        if (sizes == null || sizes[0] != chunk.size()) {
            throw new IllegalStateException("cannot charge chunk " + chunk.origin() + "@" + chunk.offset()
                    + ": it is not in flight");
        }
        long delta = bytes - sizes[1];
        sizes[1] = bytes;
        origin.inFlightBytes += delta;
        inFlightBytes += delta;
    }

    long inFlightBytes() {
        return inFlightBytes;
    }

    int inFlightChunks() {
        return inFlightChunks;
    }

    Map<String, OriginProgress> snapshot() {
        Map<String, OriginProgress> copy = new LinkedHashMap<>();
        for (Origin o : origins.values()) {
            copy.put(o.name, new OriginProgress(o.name, o.inFlight.size(), o.inFlightBytes,
                    o.committable == null ? null : Offset.of(o.committable), o.lastPushed,
                    o.completedPushed, o.done, o.ackedChunks));
        }
        return copy;
    }

    private static final class Origin {
        final String name;
        /** Offset -> {size, bytes charged} of every chunk in flight. */
        final TreeMap<Long, long[]> inFlight = new TreeMap<>();
        /** Acknowledged offsets above the watermark (an earlier chunk is still in flight). */
        final TreeSet<Long> acked = new TreeSet<>();
        long inFlightBytes;
        Long committable;
        Offset lastPushed;
        boolean completedPushed;
        boolean done;
        long ackedChunks;

        Origin(String name) {
            this.name = name;
        }
    }
}
