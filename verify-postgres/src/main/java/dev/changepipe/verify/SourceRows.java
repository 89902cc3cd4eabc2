package dev.changepipe.verify;

import dev.changepipe.spi.TableDigest;
import dev.changepipe.spi.TableDigest.Digest;
import dev.changepipe.spi.TableDigest.Shape;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Mono;

/**
 * The side of a {@link TableVerification} that holds the truth: a PostgreSQL table (storage-sync,
 * postgres-cdc) or the final state of an operation log up to its checkpoint (oplog-file). It digests
 * its rows in the canonical form of {@link TableDigest}, as the target does.
 */
public interface SourceRows {

    /** The buckets for a table of about {@code rows} rows: one per 1000 rows, at least one, at most a million. */
    static int bucketsFor(long rows) {
        return (int) Math.max(1, Math.min(1_000_000, rows / 1000));
    }

    /** What the report calls it: {@code table shop_order (PostgreSQL)}. */
    String label();

    /**
     * What is compared with {@code target} (a target of {@code sink}): the shape, or null when the table
     * cannot be compared, after printing why to {@code out}.
     *
     * @param buckets the buckets asked for; 0 for about one per 1000 rows
     */
    Prepared prepare(TableDigest sink, TableDigest.Target target, int buckets, PrintWriter out);

    /**
     * @param shape what both sides digest
     * @param notCompared the target's columns left out (name: type or why), for the report
     */
    record Prepared(Shape shape, Map<String, String> notCompared) {
    }

    /** The digest of every bucket that holds a row. */
    Mono<Map<Integer, Digest>> buckets(Shape shape);

    /** The hash of every row whose key falls in one of {@code buckets}, by key text. */
    Mono<Map<String, Long>> hashes(Shape shape, Set<Integer> buckets);

    /**
     * The canonical text of the rows of {@code keys} as the source holds them now, by key text; absent
     * keys are left out. Called again while a key settles: each call reads what is there then.
     */
    Mono<Map<String, Row>> rows(Shape shape, List<String> keys);

    /**
     * @param text the row's canonical text
     * @param alias where it was read (a storage-sync database alias), or null
     */
    record Row(String text, String alias) {
    }
}
