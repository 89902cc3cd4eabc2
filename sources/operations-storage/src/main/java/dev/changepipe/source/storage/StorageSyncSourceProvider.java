package dev.changepipe.source.storage;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Source;
import dev.changepipe.core.SourceStatus;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.SourceVerify;
import dev.changepipe.verify.ScheduledVerify;
import dev.changepipe.verify.TableVerification;
import dev.changepipe.verify.VerifyConfig;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import io.lettuce.core.resource.ClientResources;
import io.r2dbc.pool.ConnectionPool;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code type: storage-sync}: the operations storage sync worker (docs/operations-storage.md); its keys
 * are {@link StorageSyncConfig}'s. Applications not on the JVM register operations through
 * {@code POST /api/operations}; {@code handover} hands the queue between django-clickhouse's sync and
 * this service. The source owns its storage connection and pools.
 */
public final class StorageSyncSourceProvider implements SourceProvider {

    /** The {@code type:} of this source. */
    public static final String TYPE = "storage-sync";
    static final String MIN_LOCK_TIMEOUT = "1s";
    static final String MAX_LOCK_TIMEOUT = "10m";

    @Override
    public String type() {
        return TYPE;
    }

    /**
     * The storage a section declares: Redis URI, options and import keys ({@code POST /api/operations}
     * and {@code handover} open it).
     */
    public record Storage(String uri, StorageOptions options, Set<String> importKeys) {
        public OperationsStorage connect() {
            return connect(null);
        }

        /** On shared Lettuce resources (null: its own), such as the event loops of the service's HTTP server. */
        public OperationsStorage connect(ClientResources resources) {
            return RedisStorage.connect(uri, options, resources);
        }
    }

    /** {@code POST /api/operations} for every pipeline of this type (see {@link OperationsEndpoint}). */
    @Override
    public List<HttpEndpoint> endpoints(List<HttpEndpoint.Section> sections) {
        Map<String, Storage> storages = new LinkedHashMap<>();
        for (HttpEndpoint.Section section : sections) {
            storages.put(section.pipeline(), storage(section.settings(), section.context()));
        }
        return List.of(new OperationsEndpoint(storages,
                sections.get(0).context().shared(ClientResources.class).orElse(null)));
    }

    /**
     * {@code handover --from|--to django-clickhouse}: hands the operations queue of these pipelines between
     * django-clickhouse's own sync and this service (see {@link HandoverCommand}).
     */
    @Override
    public List<CliCommand> commands() {
        return List.of(new HandoverCommand(), new VerifyCommand());
    }

    /** The storage of a {@code storage-sync} section; configuration errors name their path. */
    public static Storage storage(Settings s, ServiceContext context) {
        return storage(s, s.bind(StorageSyncConfig.class), context);
    }

    /** {@link #storage(Settings, ServiceContext)} of a section already bound into {@code c}. */
    static Storage storage(Settings s, StorageSyncConfig c, ServiceContext context) {
        String uri = context.connection(s.pathOf("connection"), c.connection(), StorageSyncConfig.Redis.class).uri();
        Duration lockTimeout = c.lockTimeout();
        // Renewed every third of it: below a second, a GC pause or a slow Redis loses the lease.
        if (lockTimeout.compareTo(Duration.ofSeconds(1)) < 0 || lockTimeout.compareTo(Duration.ofMinutes(10)) > 0) {
            throw new ConfigException(s.pathOf("lockTimeout"), "expected a duration from " + MIN_LOCK_TIMEOUT + " to "
                    + MAX_LOCK_TIMEOUT + ", got " + lockTimeout.toMillis() + "ms");
        }
        StorageOptions options = s.build(() -> StorageOptions.builder()
                .keyPrefix(c.keyPrefix())
                .lockTimeout(lockTimeout)
                .build());
        return new Storage(uri, options, c.importKeys().keySet());
    }

    @Override
    public Class<StorageSyncConfig> options() {
        return StorageSyncConfig.class;
    }

    @Override
    public Source create(Settings s, ServiceContext context) {
        StorageSyncConfig c = s.bind(StorageSyncConfig.class);
        Storage storage = storage(s, c, context);
        StorageSyncOptions.Builder b = StorageSyncOptions.builder().name(context.pipelineName())
                .deadLetters(context.deadLetters())
                .untilEmpty(c.untilEmpty())
                .batchesInFlight(c.batchesInFlight());
        c.importKeyOptions(s).forEach(b::importKey);
        Map<String, String> urls = new LinkedHashMap<>();
        c.databases().forEach((alias, connection) -> urls.put(alias, context.connection(
                s.pathOf("databases") + "." + alias, connection, StorageSyncConfig.Postgres.class).url()));
        int maxConnections = c.maxConnections();
        // Connections are made only here, after every setting was checked: validate closes them unused.
        OperationsStorage redis = OperationsStorage.metered(storage.connect(), context.meterRegistry());
        List<ConnectionPool> pools = new ArrayList<>();
        for (Map.Entry<String, String> e : urls.entrySet()) {
            ConnectionPool pool = StorageSyncSource.pooledDatabase(e.getValue(), maxConnections);
            pools.add(pool);
            b.database(e.getKey(), pool);
        }
        StorageSyncOptions options = s.build(b::build);
        StorageSyncSource source = StorageSyncSource.create(redis, options);
        // runs on a schedule with `verify:`, and on request (POST /api/pipelines/<name>/verify) always
        List<TableVerification.Table> tables = options.importKeys().stream().map(ImportKeyOptions::verified).toList();
        ScheduledVerify verify = new ScheduledVerify(tables, urls, context,
                c.verify() != null ? c.verify() : VerifyConfig.ON_REQUEST,
                (table, outcome) -> VerifyCommand.repair(redis, table.name(), outcome, urls));
        boolean scheduled = c.verify() != null;
        if (scheduled && c.verify().readiness()) {
            context.readinessProbe("verify of pipeline " + context.pipelineName(), verify.probe());
        }
        class Verifying implements Source, SourceVerify {
            @Override
            public String name() {
                return source.name();
            }

            @Override
            public Flux<Chunk> read() {
                if (!scheduled) {
                    return source.read();
                }
                // verifies while it reads: a run's read ends with the run
                return source.read().doOnSubscribe(subscription -> verify.start()).doFinally(signal -> verify.stop());
            }

            @Override
            public Mono<SourceVerify.Result> verify(String table, boolean repair) {
                return verify.verifyNow(table, repair);
            }

            @Override
            public Mono<Void> acknowledge(Ack ack) {
                return source.acknowledge(ack);
            }

            /** The source's own status, and the last verify's results as its parts (the dashboard shows them). */
            @Override
            public SourceStatus status() {
                SourceStatus own = source.status();
                return new SourceStatus(own.lagBytes(), own.deadLetters(), verify.lines());
            }

            @Override
            public Mono<Void> close() {
                verify.stop();
                return source.close()
                        .then(redis.close())
                        .then(Flux.fromIterable(pools).concatMap(ConnectionPool::disposeLater).then());
            }
        }
        return new Verifying();
    }
}
