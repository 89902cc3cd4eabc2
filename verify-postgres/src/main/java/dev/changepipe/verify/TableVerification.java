package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Column;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Compares one PostgreSQL table (in every database of the pipeline that has it) with its target table in
 * one sink, and prints what it finds (docs/verify.md).
 *
 * <ol>
 *   <li><b>Digest.</b> Both servers hash every row in the canonical form ({@link TableDigest}) and sum
 *       the hashes per bucket of keys, at once; equal digests end it: the table is equal.</li>
 *   <li><b>Narrow.</b> The buckets that differ are read again, a hash per key, and compared key by key.</li>
 *   <li><b>Settle.</b> A key that differs may be a change in flight: registered, not yet written. Its
 *       rows are read again, on both sides, until they are equal (it was in flight), or its PostgreSQL row
 *       has stayed the same for {@code settle} and the target still differs (a difference), or it keeps
 *       changing past three times {@code settle} (reported as changing, not checked).</li>
 * </ol>
 */
public final class TableVerification {

    private static final Duration DIGEST_TIMEOUT = Duration.ofHours(2);
    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(5);
    private static final int ROWS_PER_BUCKET = 1000;
    private static final int MAX_BUCKETS = 1_000_000;
    private static final String SEPARATOR = "\u001F";

    private final Table key;
    private final Map<String, String> databases;
    private final TableDigest sink;
    private final Duration settle;
    private final int buckets;
    private final int show;
    private final PrintWriter out;

    /**
     * What was found: the keys missing from the target (their source row's text), extra in it (the
     * target's), different (both), changing while verified, and the database alias of each key whose
     * source row was read.
     */
    public record Outcome(boolean compared, long rows, Map<String, String> missing, Map<String, String> extra,
            Map<String, String[]> different, Set<String> changing, Map<String, String> sourceAliases) {

        static Outcome notCompared() {
            return new Outcome(false, 0, Map.of(), Map.of(), Map.of(), Set.of(), Map.of());
        }

        public boolean differs() {
            return !missing.isEmpty() || !extra.isEmpty() || !different.isEmpty();
        }

        public boolean equal() {
            return compared && !differs();
        }
    }

    /**
     * A table a pipeline replicates, as verify compares it.
     *
     * @param kind what the pipeline calls it: {@code import key} (storage-sync) or {@code table} (postgres-cdc)
     * @param name its name as the pipeline knows it: the import key, or the table ({@code schema.table})
     * @param table the PostgreSQL table ({@code table} or {@code schema.table})
     * @param model the table name the change items carry, which the sinks map to their target tables
     * @param keyColumn the one key column; null for the table's primary key (else its replica identity
     *     index), which must have one column
     */
    public record Table(String kind, String name, String table, String model, String keyColumn) {

        /** Whether a name given on the command line ({@code --table}) means this table. */
        public boolean named(String given) {
            return given.equals(name) || given.equals(table) || given.equals(model)
                    || !table.contains(".") && given.equals("public." + table);
        }
    }

    /**
     * @param databases the PostgreSQL databases that hold parts of the table: alias to R2DBC URL
     * @param buckets how many buckets keys are hashed into; 0 for about one per 1000 rows
     * @param show how many keys of each kind of difference are printed
     */
    public TableVerification(Table key, Map<String, String> databases, TableDigest sink, Duration settle,
            int buckets, int show, PrintWriter out) {
        this.key = key;
        this.databases = databases;
        this.sink = sink;
        this.settle = settle;
        this.buckets = buckets;
        this.show = show;
        this.out = out;
    }

    /** Compares, printing as it goes; fails when a server cannot be read. */
    public Outcome run() {
        String model = key.model();
        out.println("  " + (key.kind().equals("table") ? "" : key.kind() + " " + key.name() + ": ") + "table "
                + key.table() + " (PostgreSQL) against " + sinkName() + ":");
        out.flush();
        TableDigest.Target target = sink.target(model).block(CALL_TIMEOUT);
        if (target == null) {
            out.println("    the target table of " + model + " does not exist: nothing was written yet?");
            return Outcome.notCompared();
        }
        if (target.reason() != null) {
            out.println("    " + target.name() + " is not compared: " + target.reason());
            return Outcome.notCompared();
        }
        Map<String, PostgresDigests> sources = new LinkedHashMap<>();
        Map<String, String> types = new LinkedHashMap<>();
        // the first database's columns, with their modifiers: what a target without types compares by
        List<Object[]> described = null;
        for (Map.Entry<String, String> db : databases.entrySet()) {
            PostgresDigests d = new PostgresDigests(db.getValue(), key.table());
            List<Object[]> columns = d.describe().block(CALL_TIMEOUT);
            if (!columns.isEmpty()) {
                sources.put(db.getKey(), d);
                PostgresDigests.types(columns).forEach(types::putIfAbsent);
                described = described == null ? columns : described;
            }
        }
        if (sources.isEmpty()) {
            out.println("    table " + key.table() + " is in none of the databases " + databases.keySet());
            return Outcome.notCompared();
        }
        String keyName = key.keyColumn();
        if (keyName == null) {
            List<String> keyColumns = sources.values().iterator().next().key().block(CALL_TIMEOUT);
            if (keyColumns.size() != 1) {
                out.println("    " + key.table() + " is not compared: " + (keyColumns.isEmpty()
                        ? "it has no primary key" : "its key has " + keyColumns.size() + " columns " + keyColumns
                        + "; verify compares tables keyed by one column"));
                return Outcome.notCompared();
            }
            keyName = keyColumns.get(0);
        }
        // a target without types of its own (the hot storage) is compared by the source's columns' kinds
        Map<String, Column> targetColumns = target.columns();
        Map<String, String> notCompared = new LinkedHashMap<>(target.notCompared());
        if (target.sourceKinds()) {
            targetColumns = new LinkedHashMap<>();
            for (Object[] c : described) {
                Column kind = PostgresTableDigest.valueColumn((String) c[0], (String) c[1], (Integer) c[2], (Boolean) c[3]);
                if (kind == null) {
                    notCompared.put((String) c[0], (String) c[1]);
                } else {
                    targetColumns.put(kind.name(), kind);
                }
            }
        }
        Column keyColumn = targetColumns.get(keyName);
        if (keyColumn == null || !types.containsKey(keyName)) {
            out.println("    the key column " + keyName + " is not in both " + key.table() + " and " + target.name());
            return Outcome.notCompared();
        }
        List<Column> columns = new ArrayList<>();
        targetColumns.forEach((name, c) -> {
            if (types.containsKey(name)) {
                // a bytea the sink wrote into a string column: its bytes, compared as hex on both sides
                boolean bytes = c.kind() == TableDigest.Kind.STRING && "bytea".equals(types.get(name));
                columns.add(bytes ? new Column(name, TableDigest.Kind.BYTES, 0, null, c.nullable()) : c);
            } else {
                notCompared.put(name, "not in PostgreSQL");
            }
        });
        long estimate = Flux.fromIterable(sources.values()).flatMap(PostgresDigests::estimate).reduce(0L, Long::sum)
                .block(CALL_TIMEOUT);
        int n = buckets > 0 ? buckets : (int) Math.max(1, Math.min(MAX_BUCKETS, estimate / ROWS_PER_BUCKET));
        Shape shape = new Shape(keyColumn, columns, n, PostgresDigests.integerKey(keyColumn, types));
        out.println("    " + target.name() + " (" + target.mode() + "), " + columns.size() + " column(s) compared"
                + (notCompared.isEmpty() ? "" : "; not compared: " + notCompared));
        out.flush();

        long start = System.nanoTime();
        var digests = Flux.fromIterable(sources.values())
                .flatMap(d -> d.buckets(shape, types))
                .reduce(new HashMap<Integer, Digest>(), (all, one) -> {
                    one.forEach((b, d) -> all.merge(b, d, Digest::plus));
                    return all;
                })
                .zipWith(sink.buckets(model, shape))
                .block(DIGEST_TIMEOUT);
        Map<Integer, Digest> source = digests.getT1();
        Set<Integer> differingBuckets = differing(source, digests.getT2());
        long targetRows = digests.getT2().values().stream().mapToLong(Digest::count).sum();
        long rows = source.values().stream().mapToLong(Digest::count).sum();
        double seconds = (System.nanoTime() - start) / 1e9;
        out.printf("    digested %,d row(s) (%,d in the target) in %,d bucket(s): %.1f s, %,.0f rows/s; %,d bucket(s) differ%n",
                rows, targetRows, n, seconds, rows / Math.max(seconds, 1e-3), differingBuckets.size());
        out.flush();
        if (differingBuckets.isEmpty()) {
            out.println("    equal");
            return new Outcome(true, rows, Map.of(), Map.of(), Map.of(), Set.of(), Map.of());
        }

        Map<String, Long> sourceHashes = Flux.fromIterable(sources.values())
                .flatMap(d -> d.hashes(shape, types, differingBuckets))
                .reduce(new HashMap<String, Long>(), (all, one) -> {
                    all.putAll(one);
                    return all;
                })
                .block(DIGEST_TIMEOUT);
        Map<String, Long> targetHashes = sink.hashes(model, shape, differingBuckets).block(DIGEST_TIMEOUT);
        Set<String> candidates = new LinkedHashSet<>();
        sourceHashes.forEach((k, h) -> {
            if (!h.equals(targetHashes.get(k))) {
                candidates.add(k);
            }
        });
        targetHashes.keySet().stream().filter(k -> !sourceHashes.containsKey(k)).forEach(candidates::add);
        out.printf("    %,d key(s) differ in those buckets; checking each again until it settles (--settle %s)%n",
                candidates.size(), settle.toMillis() % 1000 == 0 ? settle.toSeconds() + "s" : settle.toMillis() + "ms");
        out.flush();
        return settle(rows, sources, types, shape, candidates);
    }

    private static Set<Integer> differing(Map<Integer, Digest> source, Map<Integer, Digest> target) {
        Set<Integer> all = new java.util.TreeSet<>(source.keySet());
        all.addAll(target.keySet());
        all.removeIf(b -> source.getOrDefault(b, Digest.EMPTY).equals(target.getOrDefault(b, Digest.EMPTY)));
        return all;
    }

    /** Reads the candidates' rows again until each is equal, a settled difference, or still changing. */
    private Outcome settle(long rows, Map<String, PostgresDigests> sources, Map<String, String> types, Shape shape,
            Set<String> candidates) {
        Map<String, String> missing = new TreeMap<>();
        Map<String, String> extra = new TreeMap<>();
        Map<String, String[]> different = new TreeMap<>();
        Map<String, String> aliases = new LinkedHashMap<>();
        Map<String, String> lastSource = new HashMap<>();
        Map<String, Long> stableSince = new HashMap<>();
        Set<String> changed = new java.util.HashSet<>();
        long deadline = System.nanoTime() + settle.multipliedBy(3).toNanos();
        Set<String> open = new LinkedHashSet<>(candidates);
        while (!open.isEmpty()) {
            // a row is as old as the start of the read that saw it: a slow read never shortens the settling
            long seen = System.nanoTime();
            Map<String, String> sourceRows = new HashMap<>();
            Map<String, String> rowAlias = new HashMap<>();
            List<String> keys = List.copyOf(open);
            for (Map.Entry<String, PostgresDigests> db : sources.entrySet()) {
                db.getValue().rows(shape, types, keys).block(CALL_TIMEOUT).forEach((k, text) -> {
                    sourceRows.put(k, text);
                    rowAlias.put(k, db.getKey());
                });
            }
            Map<String, String> targetRows = sink.rows(key.model(), shape, keys).block(CALL_TIMEOUT);
            for (String k : keys) {
                String s = sourceRows.get(k);
                String t = targetRows.get(k);
                if (Objects.equals(s, t)) {
                    open.remove(k); // it was in flight
                    continue;
                }
                if (!stableSince.containsKey(k)) {
                    stableSince.put(k, seen);
                    lastSource.put(k, s);
                } else if (!Objects.equals(s, lastSource.get(k))) {
                    stableSince.put(k, seen);
                    lastSource.put(k, s);
                    changed.add(k);
                } else if (seen - stableSince.get(k) >= settle.toNanos()) {
                    open.remove(k);
                    if (s == null) {
                        extra.put(k, t);
                    } else if (t == null) {
                        missing.put(k, s);
                        aliases.put(k, rowAlias.get(k));
                    } else {
                        different.put(k, new String[] {s, t});
                        aliases.put(k, rowAlias.get(k));
                    }
                }
            }
            // only keys seen changing may be left unchecked: one that stayed the same settles in its time
            if (open.isEmpty() || System.nanoTime() > deadline && changed.containsAll(open)) {
                break;
            }
            sleep(Math.min(1000, Math.max(100, settle.toMillis() / 4)));
        }
        report(shape, missing, extra, different, open);
        return new Outcome(true, rows, missing, extra, different, open, aliases);
    }

    private void report(Shape shape, Map<String, String> missing, Map<String, String> extra,
            Map<String, String[]> different, Set<String> changing) {
        int total = missing.size() + extra.size() + different.size();
        if (total == 0) {
            out.println("    equal (the keys that differed were changes in flight)");
        } else {
            out.printf("    %,d key(s) differ: %,d missing from the target, %,d extra in it, %,d different%n",
                    total, missing.size(), extra.size(), different.size());
        }
        list("missing from the target", missing.keySet(), k -> "");
        list("extra in the target", extra.keySet(), k -> "");
        list("different", different.keySet(), k -> ": " + firstDifference(shape, different.get(k)));
        if (!changing.isEmpty()) {
            out.printf("    %,d key(s) kept changing in PostgreSQL while verified, not checked: %s%n", changing.size(),
                    first(changing));
        }
        out.flush();
    }

    private void list(String what, Set<String> keys, java.util.function.Function<String, String> detail) {
        if (keys.isEmpty()) {
            return;
        }
        out.println("      " + what + " (" + keys.size() + "):");
        keys.stream().limit(show).forEach(k -> out.println("        " + k + detail.apply(k)));
        if (keys.size() > show) {
            out.println("        ... and " + (keys.size() - show) + " more");
        }
    }

    private String first(Set<String> keys) {
        return String.join(", ", keys.stream().limit(show).toList()) + (keys.size() > show ? ", ..." : "");
    }

    /** The columns whose canonical texts differ: {@code total 12.50 (source) / 13.00 (target)}. */
    private static String firstDifference(Shape shape, String[] texts) {
        String[] s = texts[0].split(SEPARATOR, -1);
        String[] t = texts[1].split(SEPARATOR, -1);
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < shape.columns().size() && i < s.length && i < t.length; i++) {
            if (!s[i].equals(t[i])) {
                parts.add(shape.columns().get(i).name() + " " + s[i] + " (source) / " + t[i] + " (target)");
            }
        }
        return parts.isEmpty() ? "(the rows differ)" : String.join(", ", parts);
    }

    private String sinkName() {
        return sink instanceof dev.changepipe.core.Sink s ? "sink " + s.name() : "the sink";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
