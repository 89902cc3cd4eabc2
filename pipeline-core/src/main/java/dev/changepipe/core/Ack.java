package dev.changepipe.core;

/**
 * The acknowledgement of one chunk, delivered by a pusher after every sink durably wrote it. Acks are
 * delivered in push order, one at a time.
 *
 * @param origin the chunk's origin
 * @param offset the acknowledged chunk's offset
 * @param committable the highest offset of the origin at or below which every pushed chunk is
 *     acknowledged (the low watermark): the position a source may durably record; never ahead of an
 *     unacknowledged chunk. Equal to {@code offset} when acks arrive in push order.
 * @param originDone whether the origin's completed chunk was pushed and every chunk of the origin is
 *     now acknowledged
 * @param items how many items the chunk held after parsing
 */
public record Ack(String origin, Offset offset, Offset committable, boolean originDone, int items) {
}
