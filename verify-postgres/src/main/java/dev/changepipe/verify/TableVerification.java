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
import reactor.core.publisher.Mono;

/**
 * Compares one table's source of truth ({@link SourceRows}: a PostgreSQL table in every database of the
 * pipeline that has it, or an operation log's final state) with its target table in one sink, and
 * prints what it finds (docs/verify.md).
 *
 * <ol>
 *   <li><b>Digest.</b> Both servers hash every row in the canonical form ({@link TableDigest}) and sum
 *       the hashes per bucket of keys, at once; equal digests end it: the table is equal.</li>
 *   <li><b>Narrow.</b> The buckets that differ are read again, a hash per key, and compared key by key.</li>
 *   <li><b>Settle.</b> A key that differs may be a change in flight: registered, not yet written. Its
 *       rows are read again, on both sides, until they are equal (it was in flight), or its source row
 *       has stayed the same for {@code settle} and the target still differs (a difference), or it keeps
 *       changing past three times {@code settle} (reported as changing, not checked).</li>
 * </ol>
 */
public final class TableVerification {

    private static final Duration DIGEST_TIMEOUT = Duration.ofHours(2);
    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(5);
    private static final String SEPARATOR = "\u001F";

    private final Table key;
    private final SourceRows source;
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
     *     index), of one column or several
     */
    public record Table(String kind, String name, String table, String model, String keyColumn) {

        /** Whether a name given on the command line ({@code --table}) means this table. */
        public boolean named(String given) {
            return given.equals(name) || given.equals(table) || given.equals(model)
                    || !table.contains(".") && given.equals("public." + table);
        }
    }

    /**
     * A PostgreSQL table (in every database that holds a part of it) against its target in one sink.
     *
     * @param databases the PostgreSQL databases that hold parts of the table: alias to R2DBC URL
     * @param buckets how many buckets keys are hashed into; 0 for about one per 1000 rows
     * @param show how many keys of each kind of difference are printed
     */
    public TableVerification(Table key, Map<String, String> databases, TableDigest sink, Duration settle,
            int buckets, int show, PrintWriter out) {
        this(key, new PostgresRows(key, databases), sink, settle, buckets, show, out);
    }

    /** Any source of truth against the target of {@code key}'s model in one sink. */
    public TableVerification(Table key, SourceRows source, TableDigest sink, Duration settle, int buckets, int show,
            PrintWriter out) {
        this.key = key;
        this.source = source;
        this.sink = sink;
        this.settle = settle;
        this.buckets = buckets;
        this.show = show;
        this.out = out;
    }

    /** Compares, printing as it goes; fails when a server cannot be read. */
    public Outcome run() {
        String model = key.model();
        out.println("  " + (key.kind().equals("table") ? "" : key.kind() + " " + key.name() + ": ") + source.label()
                + " against " + sinkName() + ":");
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
        SourceRows.Prepared prepared = source.prepare(sink, target, buckets, out);
        if (prepared == null) {
            return Outcome.notCompared();
        }
        Shape shape = prepared.shape();
        Map<String, String> notCompared = prepared.notCompared();
        out.println("    " + target.name() + " (" + target.mode() + "), " + shape.columns().size() + " column(s) compared"
                + (notCompared.isEmpty() ? "" : "; not compared: " + notCompared));
        out.flush();

        long start = System.nanoTime();
        var digests = source.buckets(shape).zipWith(sink.buckets(model, shape)).block(DIGEST_TIMEOUT);
        Map<Integer, Digest> sourceDigests = digests.getT1();
        Set<Integer> differingBuckets = differing(sourceDigests, digests.getT2());
        long targetRows = digests.getT2().values().stream().mapToLong(Digest::count).sum();
        long rows = sourceDigests.values().stream().mapToLong(Digest::count).sum();
        double seconds = (System.nanoTime() - start) / 1e9;
        out.printf("    digested %,d row(s) (%,d in the target) in %,d bucket(s): %.1f s, %,.0f rows/s; %,d bucket(s) differ%n",
                rows, targetRows, shape.buckets(), seconds, rows / Math.max(seconds, 1e-3), differingBuckets.size());
        out.flush();
        if (differingBuckets.isEmpty()) {
            out.println("    equal");
            return new Outcome(true, rows, Map.of(), Map.of(), Map.of(), Set.of(), Map.of());
        }

        Map<String, Long> sourceHashes = source.hashes(shape, differingBuckets).block(DIGEST_TIMEOUT);
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
        return settle(rows, shape, candidates);
    }

    private static Set<Integer> differing(Map<Integer, Digest> source, Map<Integer, Digest> target) {
        Set<Integer> all = new java.util.TreeSet<>(source.keySet());
        all.addAll(target.keySet());
        all.removeIf(b -> source.getOrDefault(b, Digest.EMPTY).equals(target.getOrDefault(b, Digest.EMPTY)));
        return all;
    }

    /** Reads the candidates' rows again until each is equal, a settled difference, or still changing. */
    private Outcome settle(long rows, Shape shape, Set<String> candidates) {
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
            source.rows(shape, keys).block(CALL_TIMEOUT).forEach((k, row) -> {
                sourceRows.put(k, row.text());
                rowAlias.put(k, row.alias());
            });
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
                        alias(aliases, k, rowAlias.get(k));
                    } else {
                        different.put(k, new String[] {s, t});
                        alias(aliases, k, rowAlias.get(k));
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

    private static void alias(Map<String, String> aliases, String key, String alias) {
        if (alias != null) {
            aliases.put(key, alias);
        }
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
        keys.stream().limit(show).forEach(k -> out.println("        " + display(k) + detail.apply(k)));
        if (keys.size() > show) {
            out.println("        ... and " + (keys.size() - show) + " more");
        }
    }

    /** A key as the report shows it: its text, or its columns' texts as {@code (1, 2)}. */
    static String display(String key) {
        return key.contains(Shape.KEY_SEPARATOR) ? "(" + key.replace(Shape.KEY_SEPARATOR, ", ") + ")" : key;
    }

    private String first(Set<String> keys) {
        return String.join(", ", keys.stream().limit(show).map(TableVerification::display).toList()) + (keys.size() > show ? ", ..." : "");
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
