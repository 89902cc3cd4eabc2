package dev.changepipe.benchmarks;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The benchmarks' data: a deterministic stream of JSON Lines changes of a {@code shop.order} table
 * (75 % updates, 20 % inserts, 5 % deletes, each with a full row image of 12 columns, about 400
 * bytes a line), cut into blocks of a fixed number of lines.
 */
final class Workload {

    private static final String[] STATUSES = {"new", "paid", "packed", "shipped", "delivered", "cancelled"};
    private static final String[] CURRENCIES = {"EUR", "USD", "GBP", "CHF"};
    private static final String[] WORDS = {"please", "leave", "at", "the", "door", "gift", "wrap", "call",
        "before", "delivery", "fragile", "express", "no", "invoice", "back", "entrance", "ring", "twice"};
    private static final long EPOCH = Instant.parse("2024-01-02T03:04:05Z").getEpochSecond();

    private Workload() {
    }

    /** {@code totalLines} lines in blocks of {@code linesPerBlock} (the last block may be shorter). */
    static List<byte[]> blocks(int totalLines, int linesPerBlock) {
        Random random = new Random(42);
        List<byte[]> blocks = new ArrayList<>();
        ByteArrayOutputStream block = new ByteArrayOutputStream();
        StringBuilder line = new StringBuilder(512);
        for (int i = 0; i < totalLines; i++) {
            line.setLength(0);
            appendLine(line, random);
            block.writeBytes(line.toString().getBytes(StandardCharsets.UTF_8));
            if ((i + 1) % linesPerBlock == 0 || i + 1 == totalLines) {
                blocks.add(block.toByteArray());
                block.reset();
            }
        }
        return blocks;
    }

    private static void appendLine(StringBuilder b, Random random) {
        int dice = random.nextInt(100);
        String op = dice < 75 ? "update" : dice < 95 ? "insert" : "delete";
        int id = random.nextInt(5_000_000);
        long created = EPOCH + random.nextInt(86_400 * 365);
        b.append("{\"op\":\"").append(op).append("\",\"table\":\"shop.order\",\"key\":{\"id\":").append(id)
                .append("},\"values\":{\"id\":").append(id)
                .append(",\"customer\":\"customer-").append(random.nextInt(200_000)).append('"')
                .append(",\"email\":\"user").append(random.nextInt(200_000)).append("@example.com\"")
                .append(",\"amount\":\"").append(random.nextInt(100_000)).append('.')
                .append(10 + random.nextInt(90)).append('"')
                .append(",\"currency\":\"").append(CURRENCIES[random.nextInt(CURRENCIES.length)]).append('"')
                .append(",\"status\":\"").append(STATUSES[random.nextInt(STATUSES.length)]).append('"')
                .append(",\"items\":").append(1 + random.nextInt(20))
                .append(",\"express\":").append(random.nextBoolean())
                .append(",\"note\":\"");
        int words = 3 + random.nextInt(10);
        for (int w = 0; w < words; w++) {
            if (w > 0) {
                b.append(' ');
            }
            b.append(WORDS[random.nextInt(WORDS.length)]);
        }
        b.append('"')
                .append(",\"created\":\"").append(Instant.ofEpochSecond(created)).append('"')
                .append(",\"updated\":\"").append(Instant.ofEpochSecond(created + random.nextInt(86_400))).append('"')
                .append(",\"shipping\":{\"city\":\"City ").append(random.nextInt(1000))
                .append("\",\"zip\":\"").append(10_000 + random.nextInt(90_000)).append("\"}")
                .append("}}\n");
    }
}
