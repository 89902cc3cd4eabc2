package dev.changepipe.source.cdc;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the stream's messages, in order, into rows to write: one per key per slice of a transaction.
 *
 * <p><b>Versions.</b> A transaction's rows take the LSN of its commit record shifted left by
 * {@value #SLICE_BITS} bits, plus the slice's number: a transaction longer than {@code sliceRows}
 * distinct keys (or {@code sliceBytes} of their rows) is cut into slices, each emitted as soon as it is
 * full (the same WAL cuts the same way, so the numbers are the same when it is read again). Within a slice a key keeps only
 * its last change (an insert then an update is the updated row; an insert then a delete is a delete),
 * so no two rows of one key share a version. Commit LSNs grow in commit order, so a key's versions grow
 * in the order its changes committed, and reading the same WAL again gives the same versions. Slices past
 * the {@value #MAX_SLICE}th share that number (a transaction of more than {@code 4095 * sliceRows}
 * keys); LSNs stay below 2<sup>51</sup> (2 PiB of WAL).
 *
 * <p><b>Updates.</b> An update that changes the key is a delete of the old key and an insert of the new
 * one. A TOASTed value that the update left unchanged is not in the WAL: it is taken from the old row
 * when the table has {@code REPLICA IDENTITY FULL}, from the same key's earlier change in the slice, or
 * else left marked in {@link Row#unchanged} for the source to read from the table.
 */
final class ChangeDecoder {

    private static final Logger log = LoggerFactory.getLogger(ChangeDecoder.class);

    static final int SLICE_BITS = 12;
    static final int MAX_SLICE = (1 << SLICE_BITS) - 1;
    private static final long POSTGRES_EPOCH_SECONDS = 946_684_800L;

    /** What the decoder hands on. */
    sealed interface Element permits Row, Committed, Refused, Reshaped {
    }

    /**
     * One row's change. {@code values} is {@code null} for a delete; {@code unchanged} marks values the
     * WAL did not carry and that are still to be read ({@code null} when there are none).
     */
    record Row(TableShape table, char kind, String[] keyText, Object[] values, BitSet unchanged, long version,
            Instant commitTime, long bytes) implements Element {
    }

    /** A transaction ended: everything before it is in the rows emitted so far; {@code endLsn} may be confirmed. */
    record Committed(long endLsn, Instant commitTime) implements Element {
    }

    /**
     * A change that cannot be written: a truncate (the sinks cannot be told), or a change without its key.
     * It becomes one dead letter; the stream goes on.
     */
    record Refused(TableShape table, long commitLsn, String cause, String reason, String record) implements Element {
    }

    /**
     * A table gained columns in the stream (a relation message of a new shape): {@code added} are their
     * positions in {@code table}; the rows of the new shape follow.
     */
    record Reshaped(TableShape table, int[] added, long commitLsn) implements Element {
    }

    private record RowKey(String table, List<String> key) {
    }

    private final Map<String, TableShape> catalog;
    private final int sliceRows;
    private final long sliceBytes;
    private long sliceHeld;
    private final Map<Integer, TableShape> relations = new HashMap<>();
    private final LinkedHashMap<RowKey, Row> slice = new LinkedHashMap<>();
    private final List<Element> refused = new ArrayList<>();
    private long commitLsn;
    private Instant commitTime;
    private int sliceNumber;

    /**
     * @param catalog the tables to read, by {@code schema.table}; changes of other tables are skipped
     * @param sliceRows most distinct keys per slice of a transaction
     * @param sliceBytes most bytes (estimated, as in memory) of a slice's rows
     */
    ChangeDecoder(Map<String, TableShape> catalog, int sliceRows, long sliceBytes) {
        this.catalog = catalog;
        this.sliceRows = sliceRows;
        this.sliceBytes = sliceBytes;
    }

    /** The prefix of the source's heartbeat messages ({@code pg_logical_emit_message}). */
    static final String HEARTBEAT = "changepipe_heartbeat";

    /** The rows and markers this message completes (most messages complete none). */
    List<Element> accept(PgOutput.Message message) {
        if (message instanceof PgOutput.LogicalMessage m) {
            // A heartbeat comes between transactions, after every one that committed before it: once the
            // chunks before it are written, its position can be confirmed, even if no change of the
            // source's tables came for a while (the server then frees the WAL of the other tables).
            return !m.transactional() && HEARTBEAT.equals(m.prefix()) ? List.of(new Committed(m.lsn(), null)) : List.of();
        }
        if (message instanceof PgOutput.Begin begin) {
            commitLsn = begin.finalLsn();
            long micros = begin.commitTimeMicros();
            commitTime = Instant.ofEpochSecond(POSTGRES_EPOCH_SECONDS + Math.floorDiv(micros, 1_000_000L),
                    Math.floorMod(micros, 1_000_000L) * 1000L);
            sliceNumber = 0;
            slice.clear();
            sliceHeld = 0;
            return List.of();
        }
        if (message instanceof PgOutput.Commit commit) {
            List<Element> out = flush();
            out.add(new Committed(commit.endLsn(), commitTime));
            return out;
        }
        if (message instanceof PgOutput.Relation relation) {
            TableShape known = catalog.get(relation.schema() + "." + relation.name());
            if (known == null) {
                relations.remove(relation.id());
            } else {
                TableShape shape = TableShape.of(relation, known);
                TableShape before = relations.put(relation.id(), shape);
                if (before != null && !before.sameAs(shape)) {
                    log.info("table {} changed shape in the stream: columns {} now {}", shape.name,
                            Arrays.toString(before.columns), Arrays.toString(shape.columns));
                    int[] added = shape.addedSince(before.columns);
                    if (added.length > 0) {
                        refused.add(new Reshaped(shape, added, commitLsn));
                    }
                }
            }
            return List.of();
        }
        if (message instanceof PgOutput.Change change) {
            TableShape table = relations.get(change.relation());
            if (table == null) {
                return List.of(); // a table of the publication that this source does not read
            }
            change(table, change);
            if (slice.size() >= sliceRows || sliceHeld >= sliceBytes) {
                List<Element> out = flush();
                sliceNumber++;
                return out;
            }
            return List.of();
        }
        if (message instanceof PgOutput.Truncate truncate) {
            for (int id : truncate.relations()) {
                TableShape table = relations.get(id);
                if (table != null) {
                    refused.add(new Refused(table, commitLsn, "truncate", "TRUNCATE of table " + table.name
                            + " (commit " + PgOutput.lsn(commitLsn) + ") is not applied to the targets, which still hold "
                            + "its rows: copy the table again", "TRUNCATE " + table.name));
                }
            }
        }
        return List.of();
    }

    private long version() {
        return commitLsn << SLICE_BITS | Math.min(sliceNumber, MAX_SLICE);
    }

    private void change(TableShape table, PgOutput.Change change) {
        String[] oldText = change.old() == null ? null : change.old().values();
        if (change.kind() == 'D') {
            String[] key = oldText == null ? null : table.keyText(oldText);
            if (key == null) {
                refused.add(new Refused(table, commitLsn, "no-key", "a delete of table " + table.name + " without its "
                        + "key columns " + table.keyColumns.names() + " (the table's replica identity does not include "
                        + "them: REPLICA IDENTITY DEFAULT with a primary key, or FULL)", Arrays.toString(oldText)));
                return;
            }
            put(new Row(table, 'D', key, null, null, version(), commitTime, table.estimateSize(key)));
            return;
        }
        String[] text = change.row().values();
        String[] key = table.keyText(text);
        if (key == null) {
            refused.add(new Refused(table, commitLsn, "no-key", "a change of table " + table.name + " without a value "
                    + "for every key column " + table.keyColumns.names(), Arrays.toString(text)));
            return;
        }
        if (oldText != null) {
            String[] oldKey = table.keyText(oldText);
            if (oldKey != null && !Arrays.equals(oldKey, key)) {
                put(new Row(table, 'D', oldKey, null, null, version(), commitTime, table.estimateSize(oldKey)));
            }
        }
        Row earlier = slice.get(new RowKey(table.id, List.of(key)));
        Object[] values = new Object[text.length];
        BitSet unchanged = null;
        for (int i = 0; i < text.length; i++) {
            String v = text[i];
            if (v == PgOutput.UNCHANGED) {
                if (oldText != null && i < oldText.length && oldText[i] != PgOutput.UNCHANGED && oldText[i] != null) {
                    values[i] = TextValues.convert(table.types[i], oldText[i]);
                } else if (earlier != null && earlier.values != null && i < earlier.values.length
                        && (earlier.unchanged == null || !earlier.unchanged.get(i))) {
                    values[i] = earlier.values[i];
                } else {
                    if (unchanged == null) {
                        unchanged = new BitSet(text.length);
                    }
                    unchanged.set(i);
                }
            } else {
                values[i] = TextValues.convert(table.types[i], v);
            }
        }
        put(new Row(table, change.kind(), key, values, unchanged, version(), commitTime, table.estimateSize(values)));
    }

    private void put(Row row) {
        RowKey key = new RowKey(row.table.id, List.of(row.keyText));
        Row earlier = slice.remove(key); // the key moves to the end: its last change is its place in the slice
        if (earlier != null) {
            sliceHeld -= earlier.bytes();
        }
        slice.put(key, row);
        sliceHeld += row.bytes();
    }

    private List<Element> flush() {
        List<Element> out = new ArrayList<>(slice.size() + refused.size() + 1);
        out.addAll(refused);
        refused.clear();
        out.addAll(slice.values());
        slice.clear();
        sliceHeld = 0;
        return out;
    }
}
