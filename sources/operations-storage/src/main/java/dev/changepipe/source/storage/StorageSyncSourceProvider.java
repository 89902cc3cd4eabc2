package dev.changepipe.source.storage;

import dev.changepipe.core.Ack;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Source;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
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
 * {@code type: storage-sync}: the operations storage sync worker (docs/operations-storage.md). Keys:
 * {@code connection} (required; a name under {@code connections.redis}), {@code keyPrefix}
 * (default {@code clickhouse_sync}, django-clickhouse's), {@code lockTimeout} (default 5 s, from
 * {@value #MIN_LOCK_TIMEOUT} to {@value #MAX_LOCK_TIMEOUT}: how long a sync lock lives unless
 * renewed, so how soon a dead worker's import keys are taken over), {@code importKeys} (required; per import
 * key: {@code model}, {@code table}, {@code keyColumn}, {@code batchSize}, {@code delay}),
 * {@code databases} (required; database alias: a name under {@code connections.postgres}),
 * {@code maxConnections} per database, {@code untilEmpty}, {@code batchesInFlight}. Applications not on the JVM register
 * operations through {@code POST /api/operations}; {@code handover} hands the queue between django-clickhouse's
 * sync and this service. The source owns its storage connection and pools.
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
        return List.of(new HandoverCommand());
    }

    /** The storage of a {@code storage-sync} section; configuration errors name their path. */
    public static Storage storage(Settings s, ServiceContext context) {
        Settings c = context.connection(s, "connection", "redis");
        String uri = c.string("uri");
        c.checkNoUnknownKeys();
        Duration lockTimeout = s.duration("lockTimeout", StorageOptions.DEFAULT_LOCK_TIMEOUT);
        // Renewed every third of it: below a second, a GC pause or a slow Redis loses the lease.
        if (lockTimeout.compareTo(Duration.ofSeconds(1)) < 0 || lockTimeout.compareTo(Duration.ofMinutes(10)) > 0) {
            throw new ConfigException(s.pathOf("lockTimeout"), "expected a duration from " + MIN_LOCK_TIMEOUT + " to "
                    + MAX_LOCK_TIMEOUT + ", got " + lockTimeout.toMillis() + "ms");
        }
        StorageOptions options = s.build(() -> StorageOptions.builder()
                .keyPrefix(s.string("keyPrefix", StorageOptions.DEFAULT_KEY_PREFIX))
                .lockTimeout(lockTimeout)
                .build());
        Map<String, Settings> keys = s.children("importKeys");
        if (keys.isEmpty()) {
            throw new ConfigException(s.pathOf("importKeys"), "required, expected import keys with their model");
        }
        return new Storage(uri, options, keys.keySet());
    }

    @Override
    public Source create(Settings s, ServiceContext context) {
        Storage storage = storage(s, context);
        StorageSyncOptions.Builder b = StorageSyncOptions.builder().name(context.pipelineName())
                .deadLetters(context.deadLetters())
                .untilEmpty(s.bool("untilEmpty", false))
                .batchesInFlight(s.integer("batchesInFlight", StorageSyncOptions.DEFAULT_BATCHES_IN_FLIGHT, 1, 16));
        for (Map.Entry<String, Settings> e : s.children("importKeys").entrySet()) {
            Settings k = e.getValue();
            ImportKeyOptions.Builder kb = ImportKeyOptions.builder(e.getKey());
            k.optionalString("model").ifPresent(kb::model);
            k.optionalString("table").ifPresent(kb::table);
            k.optionalString("keyColumn").ifPresent(kb::keyColumn);
            kb.batchSize(k.integer("batchSize", ImportKeyOptions.DEFAULT_BATCH_SIZE, 1, 10_000_000));
            kb.delay(k.duration("delay", ImportKeyOptions.DEFAULT_DELAY));
            k.checkNoUnknownKeys();
            b.importKey(k.build(kb::build));
        }
        int maxConnections = s.integer("maxConnections", 4, 1, 1000);
        Map<String, String> databases = s.stringMap("databases");
        if (databases.isEmpty()) {
            throw new ConfigException(s.pathOf("databases"), "required, expected database alias: postgres connection name");
        }
        Map<String, String> urls = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : databases.entrySet()) {
            Settings ref = Settings.of(s.pathOf("databases"), s.child("databases").node());
            Settings pg = context.connection(ref, e.getKey(), "postgres");
            urls.put(e.getKey(), pg.string("url"));
            pg.checkNoUnknownKeys();
        }
        s.checkNoUnknownKeys();
        // Connections are made only here, after every setting was checked: validate closes them unused.
        OperationsStorage redis = OperationsStorage.metered(storage.connect(), context.meterRegistry());
        List<ConnectionPool> pools = new ArrayList<>();
        for (Map.Entry<String, String> e : urls.entrySet()) {
            ConnectionPool pool = StorageSyncSource.pooledDatabase(e.getValue(), maxConnections);
            pools.add(pool);
            b.database(e.getKey(), pool);
        }
        StorageSyncSource source = StorageSyncSource.create(redis, s.build(b::build));
        return new Source() {
            @Override
            public String name() {
                return source.name();
            }

            @Override
            public Flux<Chunk> read() {
                return source.read();
            }

            @Override
            public Mono<Void> acknowledge(Ack ack) {
                return source.acknowledge(ack);
            }

            @Override
            public Mono<Void> close() {
                return source.close()
                        .then(redis.close())
                        .then(Flux.fromIterable(pools).concatMap(ConnectionPool::disposeLater).then());
            }
        };
    }
}
