package dev.changepipe.core;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A record that could not be applied because of its own content (a malformed line, a missing field,
 * a value a column cannot hold, an unknown target table): it costs this one dead letter and nothing
 * else; the rest of its chunk is written and acknowledged (DESIGN.md section 8a).
 *
 * @param pipeline the pipeline that read the record
 * @param sink the sink that refused it, or {@code null} when the source did
 * @param origin the origin the record came from (a file, an import key)
 * @param position where the record is in its origin: the byte offset of a line, or the version of
 *     an item; with the origin, table and key it identifies the record on every replay
 * @param table the source table, or {@code null} when unknown (a line that does not parse)
 * @param key the record's key as text, or {@code null} when unknown
 * @param cause a short, stable category for metrics, such as {@code conversion}, {@code missing-fields},
 *     {@code malformed}, {@code unknown-table}
 * @param reason what is wrong, for people: names the column, the value, the type
 * @param record the record itself, as text (the raw line, or the item)
 */
public record DeadLetter(String pipeline, String sink, String origin, long position, String table, String key,
        String cause, String reason, String record) {

    public DeadLetter {
        Objects.requireNonNull(pipeline, "pipeline");
        Objects.requireNonNull(origin, "origin");
        Objects.requireNonNull(cause, "cause");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(record, "record");
    }

    /**
     * The identity of the bad input: the same for the same record read again (a replay), whatever the
     * reason says; a store keeps one letter per identity.
     */
    public String id() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String part : new String[] {pipeline, sink, origin, Long.toString(position), table, key}) {
                sha.update((part == null ? "\u0001" : part).getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /**
     * The letter of an item a sink refused: its position is the item's version, its record the item
     * as JSON ({@code kind}, {@code table}, {@code key}, {@code values}, {@code version}), from which it
     * can be written again once the cause is fixed.
     */
    public static DeadLetter ofItem(String pipeline, String sink, String origin, ChangeItem item, String cause,
            String reason) {
        StringBuilder json = new StringBuilder(128);
        json.append("{\"kind\":\"").append(item.kind()).append("\",\"table\":");
        FlatJson.quote(json, item.table()).append(",\"key\":");
        FlatJson.write(json, item.key());
        json.append(",\"values\":");
        FlatJson.write(json, item.values());
        json.append(",\"version\":").append(item.version()).append('}');
        return new DeadLetter(pipeline, sink, origin, item.version(), item.table(), item.key().toString(), cause,
                reason, json.toString());
    }
}
