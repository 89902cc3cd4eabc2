package dev.changepipe.source.storage;

import dev.changepipe.core.Sink;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.TableHandover;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import reactor.core.publisher.Mono;

/**
 * {@code ./pipeline handover --from django-clickhouse | --to django-clickhouse}: the checks and the
 * put-back that hand the operations queue of storage-sync pipelines between django-clickhouse's own
 * sync and this service (docs/operations-storage.md, "Handing over"). It never starts a sync: it
 * reports what stands in the way, one line per import key and table, and exits 0 when the handover
 * can go on. The {@code storage-sync} provider adds it to the service's command line
 * ({@link StorageSyncSourceProvider#commands}).
 *
 * <ul>
 *   <li>{@code --from}: before the service's first run. No import key's lock may be held by
 *       django-clickhouse (its periodic sync must be stopped), and every target table of the pipeline's
 *       sinks must fit (the sinks that are a {@link TableHandover}, such as ClickHouse's, check theirs; a
 *       table that does not is printed with its migration).
 *   <li>{@code --to}: after the service's last run. No lock may be held by a running service (a stopped
 *       one's lock expires within its lock timeout, which this waits for); the operations of batches
 *       the service fetched and never removed are put back into the queue; and what the sinks say must
 *       be done before django-clickhouse's inserts (which carry no version) win over the rows the
 *       service wrote is printed.
 * </ul>
 */
final class HandoverCommand implements CliCommand {

    static final String NAME = "handover";
    static final String DJANGO_CLICKHOUSE = "django-clickhouse";
    private static final String DESCRIPTION = "Checks and prepares handing the operations queue of storage-sync "
            + "pipelines between django-clickhouse and this service: --from django-clickhouse before the service's "
            + "first run, --to django-clickhouse after its last.";
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration POLL = Duration.ofMillis(200);

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

        @ArgGroup(exclusive = true, multiplicity = "1")
        Direction direction;

        static final class Direction {
            @Option(names = "--from", paramLabel = DJANGO_CLICKHOUSE, required = true,
                    description = "take the queue over from django-clickhouse")
            String from;

            @Option(names = "--to", paramLabel = DJANGO_CLICKHOUSE, required = true,
                    description = "give the queue back to django-clickhouse")
            String to;
        }
    }

    @Override
    public int run(List<String> args, Context context) {
        Options options = new Options();
        Integer done = Commands.parse(options, args, context);
        if (done != null) {
            return done;
        }
        return handover(options, context);
    }

    private static int handover(Options o, Context context) {
        String other = o.direction.from != null ? o.direction.from : o.direction.to;
        if (!other.equals(DJANGO_CLICKHOUSE)) {
            throw new ConfigException(o.direction.from != null ? "--from" : "--to",
                    "unknown syncer '" + other + "'; expected " + DJANGO_CLICKHOUSE);
        }
        boolean taking = o.direction.from != null;
        PrintWriter out = context.out();
        List<HttpEndpoint.Section> sections = o.target.pipelines(context, "hand over");
        List<String> problems = new ArrayList<>();
        for (HttpEndpoint.Section section : sections) {
            Settings source = section.settings();
            StorageSyncConfig config = source.bind(StorageSyncConfig.class);
            StorageSyncSourceProvider.Storage storage = StorageSyncSourceProvider.storage(source, config, section.context());
            // the source tables its items carry: the sinks' tables are theirs
            List<String> models = config.importKeyOptions(source).stream().map(ImportKeyOptions::model).toList();
            // the context's out masks the URI's password
            out.println("pipeline " + section.pipeline() + " (" + storage.options().keyPrefix() + " keys, "
                    + storage.uri() + ")");
            RedisStorage redis = RedisStorage.connect(storage.uri(), storage.options());
            try {
                for (String importKey : storage.importKeys()) {
                    String problem = taking ? checkFree(out, redis, importKey)
                            : putBack(out, redis, importKey, storage.options().lockTimeout());
                    if (problem != null) {
                        problems.add(problem);
                        out.println("  import key " + importKey + ": " + problem);
                    }
                }
                checkTables(out, context.sinks(section.pipeline()), models, taking, problems);
                if (taking && problems.isEmpty()) {
                    for (String importKey : storage.importKeys()) {
                        redis.handOver(importKey, null).block(CALL_TIMEOUT);
                    }
                }
            } finally {
                redis.close().block(CALL_TIMEOUT);
            }
        }
        if (!problems.isEmpty()) {
            out.println("not ready: " + problems.size() + " problem(s) above; fix them and run this again");
            out.flush();
            return FAILED;
        }
        out.println(taking
                ? "ready: django-clickhouse's sync is stopped and the tables fit; start the service (./pipeline run -c "
                        + o.target.config + ") and keep django-clickhouse's sync stopped while it runs"
                : "ready: every operation is in django-clickhouse's queue; run the statements above (if any), then "
                        + "start django-clickhouse's periodic sync, and keep this service's storage-sync pipelines stopped");
        out.flush();
        return OK;
    }

    /**
     * What the pipeline's sinks say of the target tables of its models, those that are a
     * {@link TableHandover}: they must fit (both ways), and what must be run before django-clickhouse
     * writes them again.
     */
    private static void checkTables(PrintWriter out, List<Sink> sinks, List<String> models, boolean taking,
            List<String> problems) {
        try {
            for (Sink sink : sinks) {
                if (sink instanceof TableHandover tables) {
                    Mono<List<TableHandover.Finding>> found = taking ? tables.takeOver(models)
                            : tables.handBack(models, DJANGO_CLICKHOUSE);
                    for (TableHandover.Finding f : found.block(CALL_TIMEOUT.multipliedBy(4L + models.size()))) {
                        if (f.problem()) {
                            problems.add(f.text());
                        }
                        out.println("  sink " + sink.name() + ": " + f.text());
                        f.statements().forEach(statement -> out.println("    " + statement));
                    }
                }
            }
        } finally {
            for (Sink sink : sinks) {
                sink.close().onErrorResume(e -> Mono.empty()).block(CALL_TIMEOUT);
            }
        }
    }

    /** {@code --from}: the lock must not be django-clickhouse's; returns the problem, or null. */
    private static String checkFree(PrintWriter out, RedisStorage redis, String importKey) {
        RedisStorage.LockState state = redis.lockState(importKey).block(CALL_TIMEOUT);
        if (state.locked() && !state.heldByChangepipe()) {
            return "django-clickhouse's sync holds the lock" + holder(state) + ": stop its periodic sync (the "
                    + "sync_clickhouse_models beat task, or whatever calls sync_batch_from_storage), then run this "
                    + "again once the lock is gone (it is released when the running round ends)";
        }
        if (state.handedOverTo() != null) {
            out.println("  import key " + importKey + ": was handed over to " + state.handedOverTo()
                    + "; this service syncs it again once the checks pass");
        }
        out.println("  import key " + importKey + ": " + state.queued() + " operation(s) queued"
                + (state.openBatches() > 0 ? ", " + state.inOpenBatches() + " in " + state.openBatches()
                        + " open batch(es) of this service (put back by its next round)" : "")
                + (state.locked() ? "; this service holds the lock" + holder(state) : "; lock free"));
        return null;
    }

    /**
     * {@code --to}: marks the import key as handed over (from then on no worker of this service takes a
     * lease on it, even one left running), waits for a lease still held to end (a running round ends
     * once it finds the queue short of a full batch; a killed worker's lease expires within the lock
     * timeout), then puts the open batches back into the queue.
     */
    private static String putBack(PrintWriter out, RedisStorage redis, String importKey, Duration lockTimeout) {
        redis.handOver(importKey, DJANGO_CLICKHOUSE).block(CALL_TIMEOUT);
        RedisStorage.LockState state = redis.lockState(importKey).block(CALL_TIMEOUT);
        long deadline = System.nanoTime() + lockTimeout.plusSeconds(1).toNanos();
        while (state.locked() && state.heldByChangepipe() && System.nanoTime() < deadline) {
            sleep(POLL);
            state = redis.lockState(importKey).block(CALL_TIMEOUT);
        }
        if (state.locked()) {
            return state.heldByChangepipe()
                    ? "a worker of this service still holds the lock" + holder(state) + " after the lock timeout of "
                            + lockTimeout.toMillis() + " ms: it is running a round (it takes no new one now); stop "
                            + "the service, or run this again when the round ended"
                    : "django-clickhouse's sync already holds the lock" + holder(state) + ": it was started before "
                            + "the handover ended; stop it and run this again";
        }
        long before = state.inOpenBatches();
        long batches = state.openBatches();
        if (!Boolean.TRUE.equals(redis.putBackOpenBatches(importKey).block(CALL_TIMEOUT))) {
            return "another syncer took the lock meanwhile: stop every syncer and run this again";
        }
        RedisStorage.LockState after = redis.lockState(importKey).block(CALL_TIMEOUT);
        if (after.openBatches() > 0) {
            return after.openBatches() + " open batch(es) are still there after the put-back";
        }
        out.println("  import key " + importKey + ": handed over; " + (batches == 0 ? "no open batch"
                : "put back " + before + " operation(s) of " + batches + " open batch(es)")
                + "; " + after.queued() + " operation(s) queued for django-clickhouse; lock free");
        return null;
    }

    private static String holder(RedisStorage.LockState state) {
        String pid = state.pid() == null ? "" : "lock_pid " + state.pid();
        String ttl = state.expiresInMillis() > 0 ? "expires in " + state.expiresInMillis() + " ms" : "";
        String both = pid.isEmpty() || ttl.isEmpty() ? pid + ttl : pid + ", " + ttl;
        return both.isEmpty() ? "" : " (" + both + ")";
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
