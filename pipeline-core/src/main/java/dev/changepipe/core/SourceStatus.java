package dev.changepipe.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a source says of itself on the status page, {@link Source#status()}.
 *
 * @param lagBytes how much it has not read yet, in bytes (a log file's size past the last checkpoint);
 *                 0 where it cannot tell
 * @param deadLetters the records it refused since the process started and kept itself (a log's
 *                    dead-letter file); letters it handed to the pipeline's dead-letter store are
 *                    counted there
 * @param parts what each part of the source is doing, in the source's order, one line each (a
 *              replication source's tables: snapshotting, streaming, stopped and why); empty where the
 *              source has no parts to tell apart
 */
public record SourceStatus(long lagBytes, long deadLetters, Map<String, String> parts) {

    /** Nothing to say: what a source reports by default. */
    public static final SourceStatus NONE = new SourceStatus(0, 0);

    public SourceStatus {
        parts = parts == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(parts));
    }

    /** A status without parts. */
    public SourceStatus(long lagBytes, long deadLetters) {
        this(lagBytes, deadLetters, Map.of());
    }
}
