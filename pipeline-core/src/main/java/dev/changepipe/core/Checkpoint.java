package dev.changepipe.core;

import java.util.Map;
import java.util.Objects;

/**
 * The durable progress of one origin: the offset up to which everything was written, plus whatever
 * else the source needs to resume (a file's identity and generation, say).
 *
 * @param origin the origin
 * @param offset everything of the origin at or below this offset was written by every sink
 * @param attributes source-specific facts, saved and loaded with the offset
 */
public record Checkpoint(String origin, Offset offset, Map<String, String> attributes) {

    public Checkpoint {
        Objects.requireNonNull(origin, "origin");
        Objects.requireNonNull(offset, "offset");
        attributes = attributes == null ? Map.of() : Map.copyOf(attributes);
    }

    public Checkpoint(String origin, Offset offset) {
        this(origin, offset, Map.of());
    }
}
