package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.sink.clickhouse.ClickHouseSink;
import dev.changepipe.sink.clickhouse.ClickHouseSinkOptions;
import dev.changepipe.sink.clickhouse.WriteMode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.r2dbc.pool.ConnectionPool;
import io.r2dbc.spi.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The pieces the end-to-end tests share: a PostgreSQL table {@code app_model}, its ClickHouse
 * twin ({@code ReplacingMergeTree(version)} with {@code is_deleted}), the worker pipeline, application
 * writers that change rows and register the operations after each commit, and the comparison.
 */
final class EndToEnd {

    static final String IMPORT_KEY = "app.model";

    static final String PG_TABLE = "CREATE TABLE app_model (id bigserial PRIMARY KEY, name text NOT NULL, "
            + "counter bigint NOT NULL, amount numeric(12,2), updated timestamp NOT NULL DEFAULT now())";

    static String clickHouseTable(String db) {
        return "CREATE TABLE " + db + ".app_model (id UInt64, name String, counter Int64, updated DateTime, "
                + "version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id";
    }

    private EndToEnd() {
    }

    /** A worker pipeline: Redis storage with {@code prefix}, rows from {@code pgUrl}, into ClickHouse. */
    static Pipeline pipeline(String name, OperationsStorage storage, ConnectionPool pg, String chUrl, String chDb,
            boolean untilEmpty, int batchSize, Duration delay) {
        return pipeline(name, storage, pg, chUrl, chDb, untilEmpty, batchSize, delay, WriteMode.REPLACING);
    }

    /** As above, the sink writing in {@code mode}. */
    static Pipeline pipeline(String name, OperationsStorage storage, ConnectionPool pg, String chUrl, String chDb,
            boolean untilEmpty, int batchSize, Duration delay, WriteMode mode) {
        StorageSyncSource source = StorageSyncSource.create(storage, StorageSyncOptions.builder()
                .name(name)
                .importKey(ImportKeyOptions.builder(IMPORT_KEY).batchSize(batchSize).delay(delay).build())
                .database("default", pg)
                .untilEmpty(untilEmpty)
                .maxRetryDelay(Duration.ofSeconds(1))
                .build());
        ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(chUrl).database(chDb).defaultMode(mode).build());
        return Pipeline.builder(name).source(source).sink(sink)
                .pusher(ParseQueuePusher.factory(ParseQueueOptions.builder().parallelism(1).inFlightLimitBytes(64L << 20).build()))
                .meterRegistry(new SimpleMeterRegistry())
                .build();
    }

    /**
     * Applications: {@code concurrency} callers that insert, update or delete a random row, commit, and
     * then register the operation, until {@code running} turns false; completes after the last
     * registration (never cancelled halfway, which would lose a registration the way a crashed
     * application would).
     */
    static Mono<Long> writers(ConnectionPool pg, OperationsStorage storage, long seed, int concurrency,
            AtomicBoolean running, long maxOperations) {
        return writers(pg, storage, seed, concurrency, running, maxOperations, Duration.ZERO);
    }

    /** As above, each caller pausing {@code pause} after each operation (to keep the rate bounded). */
    static Mono<Long> writers(ConnectionPool pg, OperationsStorage storage, long seed, int concurrency,
            AtomicBoolean running, long maxOperations, Duration pause) {
        Random random = new Random(seed);
        AtomicLong done = new AtomicLong();
        return Flux.range(0, Integer.MAX_VALUE)
                .takeWhile(i -> running.get() && i < maxOperations)
                .flatMap(i -> {
                    int choice;
                    long id;
                    synchronized (random) {
                        choice = random.nextInt(10);
                        id = 1 + random.nextInt((int) Math.max(1, done.get() / 2 + 10));
                    }
                    Mono<Void> op;
                    if (choice < 4) {
                        op = insert(pg, storage, i);
                    } else if (choice < 8) {
                        op = change(pg, storage, Operation.Type.UPDATE,
                                "UPDATE app_model SET counter = counter + 1, name = 'u" + i + "', updated = now() "
                                        + "WHERE id = $1 RETURNING id", id);
                    } else {
                        op = change(pg, storage, Operation.Type.DELETE, "DELETE FROM app_model WHERE id = $1 RETURNING id", id);
                    }
                    Mono<Void> counted = op.doOnSuccess(v -> done.incrementAndGet());
                    return pause.isZero() ? counted : counted.then(Mono.delay(pause)).then();
                }, concurrency)
                .then(Mono.fromCallable(done::get));
    }

    private static Mono<Void> insert(ConnectionPool pg, OperationsStorage storage, int i) {
        return withConnection(pg, c -> Flux.from(c.createStatement(
                                "INSERT INTO app_model (name, counter, amount) VALUES ($1, 0, 1.25) RETURNING id")
                        .bind(0, "n" + i).execute())
                .concatMap(r -> r.map((row, m) -> row.get(0, Long.class)))
                .collectList())
                .flatMap(ids -> register(storage, Operation.Type.INSERT, ids));
    }

    private static Mono<Void> change(ConnectionPool pg, OperationsStorage storage, Operation.Type type, String sql, long id) {
        return withConnection(pg, c -> Flux.from(c.createStatement(sql).bind(0, id).execute())
                .concatMap(r -> r.map((row, m) -> row.get(0, Long.class)))
                .collectList())
                .flatMap(ids -> register(storage, type, ids));
    }

    private static Mono<Void> register(OperationsStorage storage, Operation.Type type, List<Long> ids) {
        if (ids.isEmpty()) {
            return Mono.empty();
        }
        return storage.registerOperations(IMPORT_KEY, type, "default", ids.stream().map(String::valueOf).toList()).then();
    }

    private static <T> Mono<T> withConnection(ConnectionPool pg, Function<Connection, Mono<T>> work) {
        // Auto-commit: the statement is committed when it completes, before the registration.
        return Mono.usingWhen(pg.create(), work, Connection::close);
    }

    /** Asserts that ClickHouse ({@code FINAL}, not deleted) holds exactly PostgreSQL's rows. */
    static void assertClickHouseEqualsPostgres(dev.changepipe.testsupport.PostgresServer pg, String pgDb,
            dev.changepipe.testsupport.ClickHouseServer ch, String chDb) {
        String postgres = pg.execute(pgDb, "SELECT id || chr(9) || name || chr(9) || counter FROM app_model ORDER BY id");
        String clickhouse = ch.execute("SELECT id, name, counter FROM " + chDb + ".app_model FINAL WHERE is_deleted = 0 "
                + "ORDER BY id FORMAT TabSeparated");
        List<String> pgRows = postgres.lines().filter(l -> !l.isBlank()).toList();
        List<String> chRows = clickhouse.lines().filter(l -> !l.isBlank()).toList();
        assertThat(pgRows).as("PostgreSQL has rows").isNotEmpty();
        assertThat(chRows).as("ClickHouse FINAL, not deleted, equals PostgreSQL").containsExactlyElementsOf(pgRows);
    }
}
