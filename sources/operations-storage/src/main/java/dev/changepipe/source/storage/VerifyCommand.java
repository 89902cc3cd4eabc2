package dev.changepipe.source.storage;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.TableDigest;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import reactor.core.publisher.Mono;

/**
 * {@code ./pipeline verify --config FILE [--pipeline P] [--import-key K] [--repair]}: compares the
 * PostgreSQL tables of storage-sync pipelines with their target tables (the sinks that are a
 * {@link TableDigest}, such as ClickHouse's), while replication runs, and prints the keys that differ
 * ({@link TableVerification}); {@code --repair} registers those keys in the operations storage, so that
 * the pipeline writes them again through its own, versioned path. Exit 0 when every table is equal, 1
 * when keys differ (repaired or not) or a table cannot be compared. The {@code storage-sync} provider
 * adds it to the service's command line.
 */
final class VerifyCommand implements CliCommand {

    static final String NAME = "verify";
    private static final String DESCRIPTION = "Compares the PostgreSQL tables of storage-sync pipelines with their "
            + "ClickHouse tables while replication runs, and prints the keys that differ; --repair registers them "
            + "so that the pipeline writes them again.";
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return DESCRIPTION;
    }

    /** Its options, parsed with picocli as the service's own commands are. */
    @Command(mixinStandardHelpOptions = true, description = DESCRIPTION)
    static final class Options {

        @Mixin
        Commands.Target target;

        @Option(names = {"-k", "--import-key"}, description = "the import key to verify (default: every one)")
        List<String> importKeys;

        @Option(names = "--repair", description = "register the keys that differ in the operations storage, so that "
                + "the pipeline writes them again (run verify again once they synced)")
        boolean repair;

        @Option(names = "--settle", defaultValue = "10s", description = "how long a key that differs must keep its "
                + "PostgreSQL row unchanged before it counts as a difference rather than a change in flight (500ms, "
                + "10s, 2m, PT1M; default ${DEFAULT-VALUE})")
        String settle;

        @Option(names = "--buckets", defaultValue = "0", description = "the buckets keys are hashed into (default: about "
                + "one per 1000 rows)")
        int buckets;

        @Option(names = "--show", defaultValue = "10", description = "the keys listed of each kind of difference "
                + "(default ${DEFAULT-VALUE})")
        int show;
    }

    @Override
    public int run(List<String> args, Context context) {
        Options o = new Options();
        Integer done = Commands.parse(o, args, context);
        if (done != null) {
            return done;
        }
        Duration settle = Settings.parseDuration(o.settle.trim());
        if (settle == null || settle.isNegative()) {
            context.err().println(context.commandName() + ": --settle: expected a duration such as 500ms, 10s, 2m or"
                    + " PT1M, got '" + o.settle + "'");
            return USAGE;
        }
        PrintWriter out = context.out();
        int problems = 0;
        for (HttpEndpoint.Section section : o.target.pipelines(context, "verify")) {
            problems += verify(section, o, settle, context);
        }
        out.println(problems == 0 ? "equal: every table compared holds what its source holds"
                : "not equal: " + problems + " table(s) differ or could not be compared (above)"
                        + (o.repair ? "; the keys that differ were registered: run verify again once they synced" : ""));
        out.flush();
        return problems == 0 ? OK : FAILED;
    }

    /** One pipeline: every import key against every sink that can be verified; the tables that are not equal. */
    private static int verify(HttpEndpoint.Section section, Options o, Duration settle, Context context) {
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
                out.println("  no sink of it can be compared (a clickhouse sink can)");
                return 0;
            }
            for (ImportKeyOptions key : config.importKeyOptions(settings)) {
                if (o.importKeys != null && !o.importKeys.contains(key.importKey())) {
                    continue;
                }
                for (Sink sink : verifiable) {
                    TableVerification.Outcome outcome = new TableVerification(key, databases, (TableDigest) sink,
                            settle, o.buckets, o.show, out).run();
                    if (!outcome.equal()) {
                        problems++;
                    }
                    if (o.repair && outcome.differs()) {
                        if (registrations == null) {
                            registrations = storage.connect();
                        }
                        repair(out, registrations, key.importKey(), outcome, databases);
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
    private static void repair(PrintWriter out, OperationsStorage storage, String importKey,
            TableVerification.Outcome outcome, Map<String, String> databases) {
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
        out.println("  repair: registered " + updated + " update(s) and " + deleted + " delete(s) for import key "
                + importKey + "; the pipeline writes them again");
    }
}
