package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.verify.TableVerification;
import dev.changepipe.verify.VerifyOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Mono;

/**
 * {@code ./pipeline verify --config FILE [--pipeline P] [--table T] [--repair]} ({@link VerifyOptions})
 * for oplog-file pipelines: reads the log up to the pipeline's checkpoints into the final state of each
 * key ({@link LogState}), and compares each table with its target in every sink that is a
 * {@link TableDigest} ({@link TableVerification}); the service may run meanwhile (a key that differs
 * is read again, on both sides, up to the checkpoints of the moment, until it settles). {@code --repair}
 * writes the keys that differ again through the pipeline's sinks: each key as the log has it last (a
 * key the log deleted or never held, as a delete), versioned at the checkpoints, so that it replaces
 * what the target holds and a newer change the pipeline writes still wins. Exit 0 when every table is equal, 1 when keys differ
 * (repaired or not) or a table cannot be compared.
 */
final class VerifyCommand extends VerifyOptions.Command {

    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(5);

    @Override
    protected int verify(VerifyOptions o, Context context) {
        PrintWriter out = context.out();
        int problems = 0;
        for (HttpEndpoint.Section section : context.sections(o.config)) {
            if (o.pipeline == null || section.pipeline().equals(o.pipeline)) {
                problems += verify(section, o, context);
            }
        }
        return summary(out, problems, o.repair, "the keys that differ were written again: run verify again to see it");
    }

    /** One pipeline: every table of its log against every sink that can be compared; the tables not equal. */
    private static int verify(HttpEndpoint.Section section, VerifyOptions o, Context context) {
        PrintWriter out = context.out();
        Settings settings = section.settings();
        OplogFileOptions options = OplogFileSourceProvider.options(settings, settings.bind(OplogFileConfig.class),
                section.context());
        List<Sink> sinks = context.sinks(section.pipeline());
        out.println("pipeline " + section.pipeline() + ":");
        long start = System.nanoTime();
        try (LogState log = LogState.scan(options, section.context().checkpoints(), LogState.PARTITION_BYTES, line -> {
            out.println("  " + line);
            out.flush();
        })) {
            out.printf("  log %s: %,d line(s), %,d bytes read up to the checkpoints in %.1f s; %d table(s)%n",
                    options.path(), log.lines(), log.bytes(), (System.nanoTime() - start) / 1e9, log.tables().size());
            log.notes().forEach(note -> out.println("  note: " + note));
            List<Sink> verifiable = sinks.stream().filter(s -> s instanceof TableDigest).toList();
            if (verifiable.isEmpty()) {
                out.println("  no sink of it can be compared (a clickhouse or postgres sink can)");
                return 0;
            }
            List<String> tables = log.tables().stream().filter(t -> o.table == null || t.equals(o.table)).toList();
            if (tables.isEmpty()) {
                out.println("  no table " + (o.table == null ? "in the log up to its checkpoints"
                        : o.table + " in the log; its tables: " + String.join(", ", log.tables())));
                return o.table == null ? 0 : 1;
            }
            int problems = 0;
            for (String table : tables) {
                TableVerification.Table key = new TableVerification.Table("table", table, table, table, null);
                for (Sink sink : verifiable) {
                    LogRows rows = new LogRows(log, table);
                    TableVerification.Outcome outcome = new TableVerification(key, rows, (TableDigest) sink,
                            o.settle(), o.buckets, o.show, out).run();
                    if (!outcome.equal()) {
                        problems++;
                    }
                    if (o.repair && outcome.differs()) {
                        out.println("  repair: " + repair(log, rows, table, sink, outcome));
                    }
                }
            }
            return problems;
        } catch (IOException e) {
            throw new UncheckedIOException("reading the log of pipeline " + section.pipeline() + ": " + e.getMessage(), e);
        } finally {
            for (Sink sink : sinks) {
                sink.close().onErrorResume(e -> Mono.empty()).block(CALL_TIMEOUT);
            }
        }
    }

    /**
     * Writes the keys that differ again through the sink, each as the log has it last up to the
     * checkpoints (its row, or a delete when the log deleted it or never held it), versioned at the
     * checkpoints ({@link LogRows#repairVersion}): above the row the target holds, below any later change.
     */
    static String repair(LogState log, LogRows rows, String table, Sink sink, TableVerification.Outcome outcome)
            throws IOException {
        Set<String> keys = new LinkedHashSet<>(outcome.missing().keySet());
        keys.addAll(outcome.different().keySet());
        keys.addAll(outcome.extra().keySet());
        TableDigest.Shape shape = rows.shape();
        Map<String, ChangeItem> last = rows.lastChanges(shape, keys);
        long version = rows.repairVersion();
        List<ChangeItem> items = new ArrayList<>();
        long deletes = 0;
        for (String key : keys) {
            ChangeItem item = last.get(key);
            if (item == null || !item.kind().isSave()) {
                deletes++;
                items.add(ChangeItem.delete(table, item != null ? item.key() : LogRows.key(shape, key),
                        Math.max(version, item == null ? 0 : item.version())));
            } else {
                items.add(ChangeItem.update(table, item.key(), item.values(), Math.max(version, item.version())));
            }
        }
        Chunk chunk = Chunk.of("verify-repair:" + table, Offset.of(0), items, false);
        sink.write(sink.prepare(chunk)).block(CALL_TIMEOUT);
        return "wrote " + (items.size() - deletes) + " row(s) and " + deletes + " delete(s) of " + table
                + " again through sink " + sink.name() + ", versioned at the checkpoints";
    }
}
