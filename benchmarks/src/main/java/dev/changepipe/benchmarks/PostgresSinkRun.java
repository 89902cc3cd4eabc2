package dev.changepipe.benchmarks;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.sink.postgres.PostgresSink;
import dev.changepipe.sink.postgres.PostgresSinkOptions;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.r2dbc.postgresql.api.PostgresqlConnection;
import io.r2dbc.spi.Connection;
import io.r2dbc.spi.ConnectionFactories;
import io.r2dbc.spi.ConnectionFactory;
import io.r2dbc.spi.Result;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * End-to-end throughput of the PostgreSQL sink next to {@code COPY} of the same rows, in the same run:
 * the acceptance figure of the PostgreSQL sink issue ("rows applied per second for 1 million changes,
 * next to COPY of the same rows").
 *
 * <p>What it does: starts a private PostgreSQL ({@link PrivatePostgres}: initdb in a temporary
 * directory, {@code fsync=off}, a free port), or uses the server named by
 * {@code PIPELINE_BENCH_POSTGRES_URI} (an {@code r2dbc:postgresql://...} URL; a database
 * {@code changepipe_bench_<millis>} is created there and dropped at the end). Creates a Django-like
 * table {@code shop_order} (bigint primary key, unique uuid, a foreign-key-style {@code customer_id},
 * varchar status, numeric amount, timestamptz, text note). Generates {@code changes} changes of model
 * {@code shop.order} (80 % inserts of new pks, 15 % updates of a random live row, 5 % deletes of a
 * random live row; values as Django serializes them: UUIDs, decimals and timestamps as strings, the
 * foreign key as field {@code customer}), deterministic (seed 42), and applies them through
 * {@link PostgresSink#write} in chunks of {@code chunkSize}, one chunk at a time, as a pusher does.
 * Only the writes are timed (the next chunk is generated between them). Then it {@code COPY}s the
 * final rows (the same values, version included) into an empty copy of the table with the same
 * indexes ({@code COPY ... FROM STDIN} through r2dbc-postgresql's {@code copyIn}; encoding the text
 * is timed too), checks that both tables hold exactly the same rows, and prints both rates and their
 * ratio.
 *
 * <p>Run (after {@code ./mvnw -B -ntp -pl benchmarks -am package -DskipTests}):
 *
 * <pre>java -Xmx2g -cp benchmarks/target/benchmarks.jar dev.changepipe.benchmarks.PostgresSinkRun</pre>
 *
 * <p>Options as system properties: {@code -Dchanges=1000000 -DchunkSize=5000}.
 */
public final class PostgresSinkRun {

    static final String URL_ENV = "PIPELINE_BENCH_POSTGRES_URI";
    private static final String TABLE_DDL = " (id bigint PRIMARY KEY, uuid uuid NOT NULL UNIQUE,"
            + " customer_id bigint NOT NULL, status varchar(20) NOT NULL, amount numeric(12,2) NOT NULL,"
            + " created timestamptz NOT NULL, note text NOT NULL, changepipe_version bigint)";
    private static final String[] STATUSES = {"new", "paid", "packed", "shipped", "delivered", "cancelled"};
    private static final String[] WORDS = {"please", "leave", "at", "the", "door", "gift", "wrap", "call",
        "before", "delivery", "fragile", "express", "no", "invoice", "back", "entrance", "don't", "ring", "twice",
        "Grüße", "\"quoted\"", "tab\there", "back\\slash"};
    private static final long EPOCH = Instant.parse("2024-01-02T03:04:05Z").getEpochSecond();
    private static final Duration TIMEOUT = Duration.ofMinutes(10);

    private PostgresSinkRun() {
    }

    /** One row of {@code shop_order} as the generator last saved it. */
    private record Row(long id, String uuid, long customer, String status, String amount, String created, String note,
            long version) {
    }

    public static void main(String[] args) throws Exception {
        int changes = Integer.getInteger("changes", 1_000_000);
        int chunkSize = Integer.getInteger("chunkSize", 5_000);
        String external = System.getenv(URL_ENV);
        PrivatePostgres server = external == null ? PrivatePostgres.start() : null;
        String adminUrl = server != null ? server.r2dbcUrl() : external;
        String db = "changepipe_bench_" + System.currentTimeMillis();
        ConnectionFactory admin = ConnectionFactories.get(adminUrl);
        try {
            execute(admin, "CREATE DATABASE " + db);
            String url = adminUrl.replaceFirst("/[^/?]*(\\?|$)", "/" + db + "$1");
            ConnectionFactory target = ConnectionFactories.get(url);
            execute(target, "CREATE TABLE shop_order" + TABLE_DDL);
            execute(target, "CREATE TABLE shop_order_copy" + TABLE_DDL);
            System.out.printf(Locale.ROOT, "server: %s%n", server != null ? server.version() + " (private, fsync=off)"
                    : query(target, "SELECT version()"));
            System.out.printf(Locale.ROOT, "changes: %,d in chunks of %,d%n", changes, chunkSize);

            Row[] rows = new Row[changes + 1];
            long sinkNanos = applyThroughTheSink(url, rows, changes, chunkSize);
            List<Row> live = new ArrayList<>();
            for (Row r : rows) {
                if (r != null) {
                    live.add(r);
                }
            }
            long copyNanos = copy(target, live);
            String differing = query(target, "SELECT count(*) FROM shop_order a FULL JOIN shop_order_copy b USING (id)"
                    + " WHERE a.id IS NULL OR b.id IS NULL OR (a.uuid, a.customer_id, a.status, a.amount, a.created,"
                    + " a.note, a.changepipe_version) IS DISTINCT FROM (b.uuid, b.customer_id, b.status, b.amount,"
                    + " b.created, b.note, b.changepipe_version)");
            if (!"0".equals(differing)) {
                throw new IllegalStateException(differing + " rows differ between the sink's table and the COPY");
            }
            double sinkRate = changes / (sinkNanos / 1e9);
            double sinkRowRate = live.size() / (sinkNanos / 1e9);
            double copyRate = live.size() / (copyNanos / 1e9);
            System.out.printf(Locale.ROOT, "sink: %,d changes in %.2f s = %,.0f changes/s (%,d rows in the end)%n",
                    changes, sinkNanos / 1e9, sinkRate, live.size());
            System.out.printf(Locale.ROOT, "COPY: %,d rows in %.2f s = %,.0f rows/s%n", live.size(), copyNanos / 1e9,
                    copyRate);
            System.out.printf(Locale.ROOT, "COPY / sink: %.1fx (rows/s over changes/s; over final rows/s of the sink:"
                    + " %.1fx); both tables identical%n", copyRate / sinkRate, copyRate / sinkRowRate);
        } finally {
            if (server != null) {
                server.close();
            } else {
                execute(admin, "DROP DATABASE IF EXISTS " + db);
            }
        }
    }

    /** Generates and writes the changes chunk by chunk; returns the nanoseconds spent in writes. */
    private static long applyThroughTheSink(String url, Row[] rows, int changes, int chunkSize) {
        PostgresSink sink = PostgresSink.create(PostgresSinkOptions.builder().url(url).maxPoolSize(1).build());
        Random random = new Random(42);
        long[] liveIds = new long[changes];
        int liveCount = 0;
        long nextId = 1;
        long nanos = 0;
        try {
            for (int start = 0; start < changes; start += chunkSize) {
                int end = Math.min(changes, start + chunkSize);
                List<ChangeItem> items = new ArrayList<>(end - start);
                for (int i = start; i < end; i++) {
                    long version = i + 1L;
                    int dice = random.nextInt(100);
                    if (dice < 80 || liveCount == 0) {
                        long id = nextId++;
                        Row row = row(random, id, UUID.nameUUIDFromBytes(Long.toString(id).getBytes(
                                StandardCharsets.UTF_8)).toString(), version);
                        rows[(int) id] = row;
                        liveIds[liveCount++] = id;
                        items.add(ChangeItem.insert("shop.order", Map.of("id", id), fields(row), version));
                    } else if (dice < 95) {
                        long id = liveIds[random.nextInt(liveCount)];
                        Row row = row(random, id, rows[(int) id].uuid(), version);
                        rows[(int) id] = row;
                        items.add(ChangeItem.update("shop.order", Map.of("id", id), fields(row), version));
                    } else {
                        int at = random.nextInt(liveCount);
                        long id = liveIds[at];
                        liveIds[at] = liveIds[--liveCount];
                        rows[(int) id] = null;
                        items.add(ChangeItem.delete("shop.order", Map.of("id", id), version));
                    }
                }
                Chunk chunk = Chunk.of("bench/shop.log", Offset.of(start), items, end == changes);
                long t0 = System.nanoTime();
                sink.write(chunk).block(TIMEOUT);
                nanos += System.nanoTime() - t0;
            }
        } finally {
            sink.close().block(TIMEOUT);
        }
        return nanos;
    }

    private static Row row(Random random, long id, String uuid, long version) {
        StringBuilder note = new StringBuilder();
        for (int w = 3 + random.nextInt(10); w > 0; w--) {
            note.append(note.length() == 0 ? "" : " ").append(WORDS[random.nextInt(WORDS.length)]);
        }
        return new Row(id, uuid, 1 + random.nextInt(200_000), STATUSES[random.nextInt(STATUSES.length)],
                random.nextInt(100_000) + "." + (10 + random.nextInt(90)),
                Instant.ofEpochSecond(EPOCH + random.nextInt(86_400 * 365), random.nextInt(1000) * 1_000_000L)
                        .toString(),
                note.toString(), version);
    }

    /** The fields as Django serializes them (foreign key {@code customer}, decimals and times as strings). */
    private static Map<String, Object> fields(Row row) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("uuid", row.uuid());
        fields.put("customer", row.customer());
        fields.put("status", row.status());
        fields.put("amount", row.amount());
        fields.put("created", row.created());
        fields.put("note", row.note());
        return fields;
    }

    /** COPYs the rows in COPY text format, 5,000 rows per buffer; returns the nanoseconds it took. */
    private static long copy(ConnectionFactory target, List<Row> rows) {
        long t0 = System.nanoTime();
        Flux<ByteBuf> buffers = Flux.range(0, (rows.size() + 4_999) / 5_000).map(part -> {
            StringBuilder b = new StringBuilder(5_000 * 160);
            for (Row r : rows.subList(part * 5_000, Math.min(rows.size(), (part + 1) * 5_000))) {
                b.append(r.id()).append('\t').append(r.uuid()).append('\t').append(r.customer()).append('\t')
                        .append(r.status()).append('\t').append(r.amount()).append('\t').append(r.created())
                        .append('\t');
                escape(b, r.note());
                b.append('\t').append(r.version()).append('\n');
            }
            return Unpooled.wrappedBuffer(b.toString().getBytes(StandardCharsets.UTF_8));
        });
        Long copied = Mono.usingWhen(Mono.from(target.create()),
                        c -> ((PostgresqlConnection) c).copyIn("COPY shop_order_copy (id, uuid, customer_id, status,"
                                + " amount, created, note, changepipe_version) FROM STDIN", buffers),
                        Connection::close)
                .block(TIMEOUT);
        long nanos = System.nanoTime() - t0;
        if (copied == null || copied != rows.size()) {
            throw new IllegalStateException("COPY reported " + copied + " rows, expected " + rows.size());
        }
        return nanos;
    }

    /** COPY text format: backslash, tab, newline and carriage return escaped. */
    private static void escape(StringBuilder b, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> b.append("\\\\");
                case '\t' -> b.append("\\t");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                default -> b.append(c);
            }
        }
    }

    private static void execute(ConnectionFactory factory, String sql) {
        Mono.usingWhen(Mono.from(factory.create()),
                        c -> Flux.from(c.createStatement(sql).execute()).concatMap(Result::getRowsUpdated).then(),
                        Connection::close)
                .block(TIMEOUT);
    }

    private static String query(ConnectionFactory factory, String sql) {
        return Mono.usingWhen(Mono.from(factory.create()),
                        c -> Flux.from(c.createStatement(sql).execute())
                                .concatMap(r -> r.map((row, meta) -> String.valueOf(row.get(0))))
                                .next(),
                        Connection::close)
                .block(TIMEOUT);
    }
}
