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
import java.util.List;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * A PostgreSQL table as the truth of a verify, in every database of the pipeline that has it (the
 * parts of one table); keyed by one column: the given one, else the primary key, else the replica
 * identity index.
 */
final class PostgresRows implements SourceRows {

    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(5);

    private final TableVerification.Table table;
    private final Map<String, String> databases;
    private final Map<String, PostgresDigests> sources = new LinkedHashMap<>();
    private final Map<String, String> types = new LinkedHashMap<>();

    /** @param databases the databases that hold parts of the table: alias to R2DBC URL */
    PostgresRows(TableVerification.Table table, Map<String, String> databases) {
        this.table = table;
        this.databases = databases;
    }

    @Override
    public String label() {
        return "table " + table.table() + " (PostgreSQL)";
    }

    @Override
    public Prepared prepare(TableDigest sink, TableDigest.Target target, int buckets, PrintWriter out) {
        sources.clear();
        types.clear();
        // the first database's columns, with their modifiers: what a target without types compares by
        List<Object[]> described = null;
        for (Map.Entry<String, String> db : databases.entrySet()) {
            PostgresDigests d = new PostgresDigests(db.getValue(), table.table());
            List<Object[]> columns = d.describe().block(CALL_TIMEOUT);
            if (!columns.isEmpty()) {
                sources.put(db.getKey(), d);
                PostgresDigests.types(columns).forEach(types::putIfAbsent);
                described = described == null ? columns : described;
            }
        }
        if (sources.isEmpty()) {
            out.println("    table " + table.table() + " is in none of the databases " + databases.keySet());
            return null;
        }
        List<String> keyNames = table.keyColumn() != null ? List.of(table.keyColumn())
                : sources.values().iterator().next().key().block(CALL_TIMEOUT);
        if (keyNames.isEmpty()) {
            out.println("    " + table.table() + " is not compared: it has no primary key (nor a replica identity index)");
            return null;
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
        List<Column> keyColumns = new ArrayList<>();
        for (String keyName : keyNames) {
            Column keyColumn = targetColumns.get(keyName);
            if (keyColumn == null || !types.containsKey(keyName)) {
                out.println("    the key column " + keyName + " is not in both " + table.table() + " and " + target.name());
                return null;
            }
            keyColumns.add(keyColumn);
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
        int n = buckets > 0 ? buckets : SourceRows.bucketsFor(estimate);
        boolean integerBuckets = keyColumns.size() == 1 && PostgresDigests.integerKey(keyColumns.get(0), types);
        return new Prepared(new Shape(keyColumns, columns, n, integerBuckets), notCompared);
    }

    @Override
    public Mono<Map<Integer, Digest>> buckets(Shape shape) {
        return Flux.fromIterable(sources.values())
                .flatMap(d -> d.buckets(shape, types))
                .reduce(new HashMap<Integer, Digest>(), (all, one) -> {
                    one.forEach((b, d) -> all.merge(b, d, Digest::plus));
                    return all;
                })
                .map(all -> all);
    }

    @Override
    public Mono<Map<String, Long>> hashes(Shape shape, Set<Integer> buckets) {
        return Flux.fromIterable(sources.values())
                .flatMap(d -> d.hashes(shape, types, buckets))
                .reduce(new HashMap<String, Long>(), (all, one) -> {
                    all.putAll(one);
                    return all;
                })
                .map(all -> all);
    }

    @Override
    public Mono<Map<String, Row>> rows(Shape shape, List<String> keys) {
        return Flux.fromIterable(sources.entrySet())
                .concatMap(db -> db.getValue().rows(shape, types, keys)
                        .map(rows -> Map.entry(db.getKey(), rows)))
                .reduce(new HashMap<String, Row>(), (all, one) -> {
                    one.getValue().forEach((k, text) -> all.put(k, new Row(text, one.getKey())));
                    return all;
                })
                .map(all -> all);
    }
}
