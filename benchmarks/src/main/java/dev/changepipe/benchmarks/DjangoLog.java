package dev.changepipe.benchmarks;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * The Django-style operation log of {@code ./pipeline demo} ({@code <unix time> SAVE|DELETE <json
 * array>}, model {@code shop.order}: a fifth of the changes create orders, the rest update a random
 * existing one or, one in twelve, delete it; no malformed lines), written together with the rows the
 * service writes for it, as TabSeparated for {@code clickhouse-client} (one row per change: the
 * fields, the version and {@code is_deleted}), as text for PostgreSQL's {@code COPY} (the final
 * rows) or as Redis commands for {@code redis-cli --pipe}. Deterministic for a seed; {@link Expected} is what a correct replica holds.
 */
final class DjangoLog {

    static final String MODEL = "shop.order";
    /** The columns of the target table, without the sink's version and is_deleted columns. */
    static final String COLUMNS = "\"id UInt64\", \"uuid UUID\", \"customer UInt32\", \"status String\", "
            + "\"total Decimal(12, 2)\", \"created DateTime\"";
    private static final String[] STATUSES = {"new", "paid", "shipped", "cancelled"};
    private static final DateTimeFormatter CLICKHOUSE_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")
            .withZone(ZoneOffset.UTC);

    private DjangoLog() {
    }

    /** What the log leaves behind: live orders and the sum of their totals in cents. */
    record Expected(long changes, long liveOrders, long totalCentsOfLive, long deletes) {
    }

    /** The fields of one order version. */
    record Order(int id, int customer, String status, long cents, long time) {
        UUID uuid() {
            return new UUID(0x5EED_0000_0000_4000L | id, 0x8000_0000_0000_0000L | id);
        }

        String total() {
            return cents / 100 + "." + String.format("%02d", cents % 100);
        }

        /** The log line of this change, with a trailing newline. */
        String line(boolean delete) {
            return time + (delete ? " DELETE " : " SAVE ") + "[{\"model\": \"" + MODEL + "\", \"pk\": " + id
                    + ", \"fields\": {\"uuid\": \"" + uuid() + "\", \"customer\": " + customer
                    + ", \"status\": \"" + status + "\", \"total\": \"" + total() + "\", \"created\": \""
                    + Instant.ofEpochSecond(time) + "\"}}]\n";
        }

        /** The ClickHouse TabSeparated row of this change: the fields, version, is_deleted. */
        String clickHouseRow(long version, boolean delete) {
            return id + "\t" + uuid() + "\t" + customer + "\t" + status + "\t" + total() + "\t"
                    + CLICKHOUSE_TIME.format(Instant.ofEpochSecond(time)) + "\t" + version + "\t" + (delete ? 1 : 0) + "\n";
        }

        /**
         * The Redis commands (protocol text, for {@code redis-cli --pipe}) that store this change the
         * way the hot storage keeps an object with a unique {@code uuid}: the object as JSON and the
         * uuid's index key on a save, both removed on a delete.
         */
        String redisCommands(String prefix, long version, boolean delete) {
            String object = prefix + MODEL + ":pk:" + id;
            String index = prefix + MODEL + ":uuid:" + uuid();
            if (delete) {
                return resp("DEL", object, index);
            }
            String json = "{\"version\":" + version + ",\"key\":{\"id\":" + id + "},\"fields\":{\"uuid\":\"" + uuid()
                    + "\",\"customer\":" + customer + ",\"status\":\"" + status + "\",\"total\":" + total()
                    + ",\"created\":\"" + Instant.ofEpochSecond(time) + "\"}}";
            return resp("SET", object, json) + resp("SET", index, Integer.toString(id));
        }

        private static String resp(String... parts) {
            StringBuilder b = new StringBuilder().append('*').append(parts.length).append("\r\n");
            for (String p : parts) {
                b.append('$').append(p.length()).append("\r\n").append(p).append("\r\n"); // ASCII only
            }
            return b.toString();
        }

        /** The PostgreSQL COPY text row of this order: id, uuid, customer, status, total, created. */
        String postgresRow() {
            return id + "\t" + uuid() + "\t" + customer + "\t" + status + "\t" + total() + "\t"
                    + Instant.ofEpochSecond(time) + "\n";
        }
    }

    /**
     * Writes {@code changes} lines to {@code log} and, when not null, one ClickHouse row per change to
     * {@code clickHouseRows} (version = the line's byte offset, increasing like the service's) and the
     * final live orders to {@code postgresRows}.
     */
    static Expected generate(Path log, Path clickHouseRows, Path postgresRows, int changes, long seed) throws IOException {
        return generate(log, clickHouseRows, postgresRows, null, null, changes, seed);
    }

    /** The same, also writing {@link Order#redisCommands} of every change to {@code redisPipe} under {@code redisPrefix}. */
    static Expected generate(Path log, Path clickHouseRows, Path postgresRows, Path redisPipe, String redisPrefix,
            int changes, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        int maxOrders = Math.max(1, changes / 5);
        Order[] live = new Order[maxOrders + 1];
        int created = 0;
        long deletes = 0;
        long time = 1_700_000_000L;
        long offset = 0;
        try (BufferedWriter w = Files.newBufferedWriter(log, StandardCharsets.UTF_8);
                BufferedWriter rows = clickHouseRows == null ? null : Files.newBufferedWriter(clickHouseRows, StandardCharsets.UTF_8);
                BufferedWriter redis = redisPipe == null ? null : Files.newBufferedWriter(redisPipe, StandardCharsets.UTF_8)) {
            for (int i = 0; i < changes; i++) {
                if (i % 50 == 0) {
                    time++;
                }
                int id;
                boolean delete = false;
                if (created < maxOrders && (i < maxOrders / 2 || random.nextInt(5) == 0)) {
                    id = ++created;
                } else {
                    id = 1 + random.nextInt(created);
                    delete = live[id] != null && random.nextInt(12) == 0;
                }
                long cents = 100 + random.nextInt(100_000);
                Order order = new Order(id, 1 + id % 5000, STATUSES[random.nextInt(STATUSES.length)], cents, time);
                String line = order.line(delete);
                w.write(line);
                if (rows != null) {
                    rows.write(order.clickHouseRow(offset, delete));
                }
                if (redis != null) {
                    redis.write(order.redisCommands(redisPrefix, offset, delete));
                }
                offset += line.length(); // ASCII only
                if (delete) {
                    live[id] = null;
                    deletes++;
                } else {
                    live[id] = order;
                }
            }
        }
        long liveCount = 0;
        long sum = 0;
        try (BufferedWriter pg = postgresRows == null ? null : Files.newBufferedWriter(postgresRows, StandardCharsets.UTF_8)) {
            for (int id = 1; id <= maxOrders; id++) {
                if (live[id] != null) {
                    liveCount++;
                    sum += live[id].cents();
                    if (pg != null) {
                        pg.write(live[id].postgresRow());
                    }
                }
            }
        }
        return new Expected(changes, liveCount, sum, deletes);
    }
}
