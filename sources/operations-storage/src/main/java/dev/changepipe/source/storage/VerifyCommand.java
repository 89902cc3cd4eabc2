package dev.changepipe.source.storage;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.Settings;
import dev.changepipe.verify.VerifyOptions;
import dev.changepipe.spi.TableDigest;
import dev.changepipe.verify.TableVerification;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Mono;

/**
 * {@code ./pipeline verify --config FILE [--pipeline P] [--table T] [--import-key K] [--repair]}
 * ({@link VerifyOptions}): compares the PostgreSQL tables of storage-sync pipelines with their target tables (the sinks that are a
 * {@link TableDigest}, such as ClickHouse's), while replication runs, and prints the keys that differ
 * ({@link TableVerification}); {@code --repair} registers those keys in the operations storage, so that
 * the pipeline writes them again through its own, versioned path. Exit 0 when every table is equal, 1
 * when keys differ (repaired or not) or a table cannot be compared. The {@code storage-sync} provider
 * adds it to the service's command line.
 */
final class VerifyCommand extends VerifyOptions.Command {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    @Override
    protected int verify(VerifyOptions o, Context context) {
        PrintWriter out = context.out();
        int problems = 0;
        for (HttpEndpoint.Section section : Commands.pipelines(context.sections(o.config), o.pipeline, "verify")) {
            problems += verify(section, o, o.settle(), context);
        }
        return summary(out, problems, o.repair, "the keys that differ were registered: run verify again once they synced");
    }

    /** One pipeline: every import key against every sink that can be verified; the tables that are not equal. */
    private static int verify(HttpEndpoint.Section section, VerifyOptions o, Duration settle, Context context) {
        PrintWriter out = context.out();
        Settings settings = section.settings();
        StorageSyncConfig config = settings.bind(StorageSyncConfig.class);
        StorageSyncSourceProvider.Storage storage = StorageSyncSourceProvider.storage(settings, config, section.context());
        Map<String, String> databases = new LinkedHashMap<>();
        config.databases().forEach((alias, connection) -> databases.put(alias, section.context().connection(
                settings.pathOf("databases") + "." + alias, connection, StorageSyncConfig.Postgres.class).url()));
        List<Sink> sinks = context.sinks(section.pipeline());
        int problems = 0;
        OperationsStorage registrations = null;
        try {
            List<Sink> verifiable = sinks.stream().filter(s -> s instanceof TableDigest).toList();
            out.println("pipeline " + section.pipeline() + ":");
            if (verifiable.isEmpty()) {
                out.println("  no sink of it can be compared (a clickhouse or postgres sink can)");
                return 0;
            }
            List<ImportKeyOptions> keys = config.importKeyOptions(settings).stream()
                    .filter(k -> o.importKeys == null || o.importKeys.contains(k.importKey()))
                    .filter(k -> o.table == null || k.verified().named(o.table))
                    .toList();
            if (keys.isEmpty()) {
                out.println("  no import key " + (o.table != null ? "or table " + o.table : String.join(", ", o.importKeys))
                        + "; its import keys: " + String.join(", ", config.importKeyOptions(settings).stream()
                                .map(ImportKeyOptions::importKey).toList()));
                return 1;
            }
            for (ImportKeyOptions key : keys) {
                for (Sink sink : verifiable) {
                    TableVerification.Outcome outcome = new TableVerification(key.verified(), databases, (TableDigest) sink,
                            settle, o.buckets, o.show, out).run();
                    if (!outcome.equal()) {
                        problems++;
                    }
                    if (o.repair && outcome.differs()) {
                        if (registrations == null) {
                            registrations = storage.connect();
                        }
                        out.println("  repair: " + repair(registrations, key.importKey(), outcome, databases));
                    }
                }
            }
            return problems;
        } finally {
            for (Sink sink : sinks) {
                sink.close().onErrorResume(e -> Mono.empty()).block(CALL_TIMEOUT);
            }
            if (registrations != null) {
                registrations.close().onErrorResume(e -> Mono.empty()).block(CALL_TIMEOUT);
            }
        }
    }

    /**
     * Registers the keys that differ, as an application registers a change: an update for a key whose
     * row is in PostgreSQL (missing or different in the target), a delete for one that is not (extra).
     */
    static String repair(OperationsStorage storage, String importKey, TableVerification.Outcome outcome,
            Map<String, String> databases) {
        Map<String, List<String>> updates = new LinkedHashMap<>();
        outcome.sourceAliases().forEach((key, alias) -> updates.computeIfAbsent(alias, a -> new ArrayList<>()).add(key));
        long updated = 0;
        for (Map.Entry<String, List<String>> e : updates.entrySet()) {
            updated += storage.registerOperations(importKey, Operation.Type.UPDATE, e.getKey(), e.getValue())
                    .block(CALL_TIMEOUT);
        }
        long deleted = 0;
        if (!outcome.extra().isEmpty()) {
            String alias = databases.containsKey(Operation.DEFAULT_DB_ALIAS) ? Operation.DEFAULT_DB_ALIAS
                    : databases.keySet().iterator().next();
            deleted = storage.registerOperations(importKey, Operation.Type.DELETE, alias, outcome.extra().keySet())
                    .block(CALL_TIMEOUT);
        }
        return "registered " + updated + " update(s) and " + deleted + " delete(s) for import key " + importKey
                + "; the pipeline writes them again";
    }
}
