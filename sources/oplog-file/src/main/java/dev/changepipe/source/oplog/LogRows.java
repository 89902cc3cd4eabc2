package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import dev.changepipe.verify.SourceRows;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * One table of an operation log as the truth of a verify: the last change of each key up to the
 * checkpoints ({@link LogState}), each value rendered as the sink writes it into the target's column
 * ({@link TableDigest#canonical(String, Column, Object)}), so a value the sink converts (a text into a
 * {@code DateTime}) is compared as it was stored. Keys change while the pipeline runs: {@link #rows}
 * reads on past the scan, up to the checkpoints of the moment.
 */
final class LogRows implements SourceRows {

    private final LogState log;
    private final String table;
    private TableDigest sink;
    private Shape shape;
    /** The changes read past the scan: up to where, and the last of each key asked for. */
    private Map<String, long[]> readTo;
    private final Map<String, ChangeItem> since = new HashMap<>();
    /** The last spilled change of the keys {@link #rows} was asked for, by key text. */
    private final Map<String, LogState.Final> spilled = new HashMap<>();
    private final Set<String> looked = new HashSet<>();

    LogRows(LogState log, String table) {
        this.log = log;
        this.table = table;
    }

    @Override
    public String label() {
        return "table " + table + " of the log";
    }

    @Override
    public Prepared prepare(TableDigest sink, TableDigest.Target target, int buckets, PrintWriter out) {
        this.sink = sink;
        List<String> key = log.keyFields(table);
        // a target without column types (the hot storage) holds the values as the log has them: each field
        // the table's changes carry is compared as text
        Map<String, Column> columns = target.columns();
        if (target.sourceKinds()) {
            columns = new LinkedHashMap<>();
            for (String field : log.fields(table)) {
                columns.put(field, new Column(field, TableDigest.Kind.STRING, 0, null, true));
            }
        }
        List<Column> keyColumns = new java.util.ArrayList<>();
        for (String field : key) {
            Column keyColumn = columns.get(field);
            if (keyColumn == null) {
                out.println("    the key field " + field + " is not a column of " + target.name());
                return null;
            }
            keyColumns.add(keyColumn);
        }
        int n = buckets > 0 ? buckets : SourceRows.bucketsFor(log.changes(table));
        shape = new Shape(keyColumns, List.copyOf(columns.values()), n,
                keyColumns.size() == 1 && keyColumns.get(0).kind() == TableDigest.Kind.INTEGER);
        return new Prepared(shape, target.notCompared());
    }

    /**
     * The version a repair writes with: the checkpoints' as {@link #lastChanges} last read them, above
     * every change up to them (a row changed in the target behind the pipeline's back included, unless
     * given a version from the future), below every change the pipeline writes later.
     */
    long repairVersion() {
        return LogState.versionAt(readTo != null ? readTo : log.scanned());
    }

    /** What {@link #prepare} chose to compare. */
    Shape shape() {
        return shape;
    }

    @Override
    public Mono<Map<Integer, Digest>> buckets(Shape shape) {
        return blocking(() -> {
            long[] counts = new long[shape.buckets()];
            long[] sums = new long[shape.buckets()];
            log.finals(table, (identity, last) -> {
                if (!last.deleted()) {
                    Map<String, Object> row = LogState.values(last.values());
                    int b = Digest.bucket(shape, keyText(shape, row));
                    counts[b]++;
                    sums[b] += Digest.hash(rowText(shape, row));
                }
            });
            Map<Integer, Digest> out = new LinkedHashMap<>();
            for (int b = 0; b < counts.length; b++) {
                if (counts[b] > 0) {
                    out.put(b, Digest.of(counts[b], sums[b]));
                }
            }
            return out;
        });
    }

    @Override
    public Mono<Map<String, Long>> hashes(Shape shape, Set<Integer> buckets) {
        return blocking(() -> {
            Map<String, Long> out = new HashMap<>();
            log.finals(table, (identity, last) -> {
                if (!last.deleted()) {
                    Map<String, Object> row = LogState.values(last.values());
                    String key = keyText(shape, row);
                    if (buckets.contains(Digest.bucket(shape, key))) {
                        out.put(key, Digest.hash(rowText(shape, row)));
                    }
                }
            });
            return out;
        });
    }

    @Override
    public Mono<Map<String, Row>> rows(Shape shape, List<String> keys) {
        return blocking(() -> {
            Map<String, Row> out = new HashMap<>();
            lastChanges(shape, keys).forEach((key, item) -> {
                if (item.kind().isSave()) {
                    out.put(key, new Row(rowText(shape, item.values()), null));
                }
            });
            return out;
        });
    }

    /**
     * The last change of each of {@code keys} (key texts) up to the checkpoints now, with its row as its
     * values; keys the log never changed are left out.
     */
    Map<String, ChangeItem> lastChanges(Shape shape, Collection<String> keys) throws IOException {
        Set<String> fresh = new HashSet<>(keys);
        fresh.removeAll(looked);
        if (!fresh.isEmpty()) {
            log.finals(table, (identity, last) -> {
                String key = keyText(shape, LogState.values(last.values()));
                if (fresh.contains(key)) {
                    spilled.put(key, last);
                }
            });
            looked.addAll(fresh);
            // keys asked for now were not followed past the scan: read on from the scan again
            readTo = null;
            since.clear();
        }
        if (readTo == null) {
            readTo = log.scanned();
        }
        Map<String, long[]> to = new HashMap<>();
        log.since(readTo, to, item -> {
            if (item.table().equals(table)) {
                String key = keyText(shape, LogState.row(item));
                if (looked.contains(key)) {
                    since.merge(key, item, (a, b) -> b.version() >= a.version() ? b : a);
                }
            }
        });
        readTo.putAll(to);
        Map<String, ChangeItem> out = new LinkedHashMap<>();
        for (String key : keys) {
            ChangeItem after = since.get(key);
            LogState.Final before = spilled.get(key);
            if (after != null && (before == null || after.version() >= before.version())) {
                out.put(key, after.kind().isSave() ? ChangeItem.update(table, after.key(), LogState.row(after),
                        after.version()) : after);
            } else if (before != null) {
                Map<String, Object> row = LogState.values(before.values());
                Map<String, Object> k = new LinkedHashMap<>();
                for (String field : log.keyFields(table)) {
                    k.put(field, row.get(field));
                }
                out.put(key, before.deleted() ? ChangeItem.delete(table, k, before.version())
                        : ChangeItem.update(table, k, row, before.version()));
            }
        }
        return out;
    }

    /** A key from its text: each column's value, a number for an integer column. */
    static Map<String, Object> key(Shape shape, String keyText) {
        String[] texts = shape.keys().size() == 1 ? new String[] {keyText} : keyText.split(Shape.KEY_SEPARATOR, -1);
        Map<String, Object> key = new LinkedHashMap<>();
        for (int i = 0; i < shape.keys().size(); i++) {
            Column c = shape.keys().get(i);
            String text = i < texts.length ? texts[i] : "";
            Object value = text;
            if (c.kind() == TableDigest.Kind.INTEGER) {
                try {
                    value = Long.parseLong(text);
                } catch (NumberFormatException e) {
                    value = text;
                }
            }
            key.put(c.name(), value);
        }
        return key;
    }

    private String keyText(Shape shape, Map<String, Object> row) {
        return Shape.keyText(texts(shape.keys(), row));
    }

    private String rowText(Shape shape, Map<String, Object> row) {
        return String.join(Shape.KEY_SEPARATOR, texts(shape.columns(), row));
    }

    /** The row's values of {@code columns}, each as the sink writes it. */
    private List<String> texts(List<Column> columns, Map<String, Object> row) {
        List<String> texts = new java.util.ArrayList<>(columns.size());
        for (Column c : columns) {
            texts.add(sink.canonical(table, c, row.get(c.name())));
        }
        return texts;
    }

    private static <T> Mono<T> blocking(Callable<T> work) {
        return Mono.fromCallable(() -> {
            try {
                return work.call();
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }).subscribeOn(Schedulers.boundedElastic());
    }
}
