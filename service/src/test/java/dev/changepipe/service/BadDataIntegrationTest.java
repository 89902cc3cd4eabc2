package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad data never stalls, wipes or hides anything: a log of 100,000 lines of which about one in ten is
 * bad, at the source (a line that does not parse, a save without fields) or at the sink (a value a
 * column cannot take, a model without a table), replicated by the service as a user runs it with
 * default settings into ClickHouse, PostgreSQL and the Redis hot storage at once. Every good change
 * lands in each sink as the source's final state, every record a sink refuses is one dead letter of that
 * sink with its reason, the pipeline is never restarted, a replay of the whole log changes nothing,
 * and the letters are listed and, once the cause is fixed, replayed.
 */
@ExtendWith({ClickHouseServerExtension.class, PostgresServerExtension.class, RedisServerExtension.class})
class BadDataIntegrationTest {

    private static final int LINES = 100_000;
    private static final int KEYS = 20_000;
    /** The heap the defaults are sized for. */
    private static final Map<String, String> ENV = Map.of("PIPELINE_JAVA_OPTS", "-Xmx256m");
    private static final String UUID = "8a3b9bd4-7c76-4f0e-a6a2-2b1b0b1c6d9e";

    /**
     * What the generator wrote: the final row of every key, and how many bad lines of each kind; the
     * keys of polls.choice a sink that takes every value (the hot storage) holds, and the pks of the
     * model that has no table.
     */
    record Expected(TreeMap<Long, String> rows, Map<String, Integer> sinkBad, int sourceBad,
            java.util.Set<Long> anyValueKeys, java.util.Set<Long> ghostKeys) {
    }

    static Expected generate(Path log, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        TreeMap<Long, String> rows = new TreeMap<>();
        java.util.Set<Long> anyValueKeys = new java.util.TreeSet<>();
        java.util.Set<Long> ghostKeys = new java.util.TreeSet<>();
        Map<String, Integer> sinkBad = new TreeMap<>();
        int sourceBad = 0;
        try (BufferedWriter out = Files.newBufferedWriter(log, StandardCharsets.UTF_8)) {
            for (int i = 0; i < LINES; i++) {
                long pk = 1 + random.nextInt(KEYS);
                String time = "17950" + String.format("%05d", i) + ".5";
                int votes = random.nextInt(1000);
                String fields = "\"choice_text\": \"choice " + i + "\", \"votes\": " + votes + ", \"uuid\": \"" + UUID
                        + "\", \"created\": \"2026-12-05T06:00:00\"";
                if (random.nextInt(10) != 0) {
                    if (random.nextInt(12) == 0) {
                        out.write(time + " DELETE [{\"model\": \"polls.choice\", \"pk\": " + pk + "}]\n");
                        rows.remove(pk);
                        anyValueKeys.remove(pk);
                    } else {
                        out.write(time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + ", \"fields\": {" + fields
                                + "}}]\n");
                        rows.put(pk, pk + "\tchoice " + i + "\t" + votes);
                        anyValueKeys.add(pk);
                    }
                    continue;
                }
                String bad;
                String kind;
                switch (i % 9) {
                    case 0 -> { kind = "source"; bad = time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + ", \"fie"; }
                    case 1 -> { kind = "source"; bad = time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + "}]"; }
                    case 2 -> { kind = "conversion"; bad = save(time, pk, fields.replace("\"votes\": " + votes, "\"votes\": \"abc\"")); }
                    case 3 -> { kind = "conversion"; bad = save(time, pk, fields.replace("\"votes\": " + votes, "\"votes\": 5000000000")); }
                    case 4 -> { kind = "conversion"; bad = save(time, pk, fields.replace("\"votes\": " + votes, "\"votes\": 1e400")); }
                    case 5 -> { kind = "conversion"; bad = save(time, pk, fields.replace(UUID, "not-a-uuid")); }
                    case 6 -> { kind = "conversion"; bad = save(time, pk, fields.replace("2026-12-05T06:00:00", "yesterday")); }
                    case 7 -> { kind = "conversion"; bad = save(time, -pk, fields); }
                    default -> { kind = "unknown-table"; bad = time + " SAVE [{\"model\": \"polls.ghost\", \"pk\": " + pk
                            + ", \"fields\": {\"x\": 1}}]"; }
                }
                out.write(bad + "\n");
                if (kind.equals("source")) {
                    sourceBad++;
                } else {
                    sinkBad.merge(kind, 1, Integer::sum);
                    if (kind.equals("unknown-table")) {
                        ghostKeys.add(pk);
                    } else {
                        anyValueKeys.add(i % 9 == 7 ? -pk : pk);
                    }
                }
            }
        }
        return new Expected(rows, sinkBad, sourceBad, anyValueKeys, ghostKeys);
    }

    private static String save(String time, long pk, String fields) {
        return time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + ", \"fields\": {" + fields + "}}]";
    }

    private static String config(Path dir, Path log, String clickHouseUrl, String database, String postgresUrl,
            String redisUri) {
        return """
                http:
                  port: 0
                  portFile: %1$s/http.port
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  clickhouse:
                    test:
                      endpoints: ["%3$s"]
                      database: %4$s
                  postgres:
                    replica:
                      url: %5$s
                  redis:
                    hot:
                      uri: %6$s
                pipelines:
                  - name: polls
                    source:
                      type: oplog-file
                      path: %2$s
                      mode: snapshot
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          polls.choice:
                            create:
                              columns: ["id UInt64", "choice_text String", "votes Int32", "uuid UUID", "created DateTime"]
                              orderBy: [id]
                      - type: postgres
                        connection: replica
                      - type: redis-hot-storage
                        connection: hot
                        keyPrefix: "hot:"
                """.formatted(dir, log, clickHouseUrl, database, postgresUrl, redisUri);
    }

    private static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            out.add(AdminServer.JSON.readTree(line));
        }
        return out;
    }

    @Test
    void oneBadRecordCostsOneDeadLetterNothingStallsAndAReplayChangesNothing(ClickHouseServer ch, PostgresServer pg,
            RedisServer redis, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("bad_data");
        String replica = pg.createDatabase("bad_data");
        // the same values refused as ClickHouse refuses them, a negative key by a CHECK
        pg.execute(replica, "CREATE TABLE polls_choice (id bigint PRIMARY KEY CHECK (id > 0), choice_text text,"
                + " votes integer, uuid uuid, created timestamp)");
        Path log = dir.resolve("polls.log");
        Expected expected = generate(log, 13);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, log, ch.httpUrl(), db, pg.r2dbcUrl(replica), redis.uri()));
        StringBuilder want = new StringBuilder();
        expected.rows().values().forEach(r -> want.append(r).append('\n'));

        Map.Entry<Integer, String> run = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());

        assertThat(run.getKey()).as(run.getValue()).isZero();
        assertThat(run.getValue()).doesNotContain("restart").doesNotContain("ERROR");
        assertState(ch, db, pg, replica, redis, expected, want.toString());
        Path sinkLetters = dir.resolve("checkpoints/polls.dead-letters.jsonl");
        List<JsonNode> letters = lines(sinkLetters);
        for (String sink : List.of("clickhouse", "postgres")) {
            Map<String, Integer> byCause = new TreeMap<>();
            letters.stream().filter(l -> l.get("sink").asText().equals(sink))
                    .forEach(l -> byCause.merge(l.get("cause").asText(), 1, Integer::sum));
            assertThat(byCause.values().stream().mapToInt(Integer::intValue).sum()).as(sink + ": " + byCause)
                    .isEqualTo(expected.sinkBad().values().stream().mapToInt(Integer::intValue).sum());
            if (sink.equals("clickhouse")) {
                assertThat(byCause).isEqualTo(expected.sinkBad());
            } else {
                assertThat(byCause.get("unknown-table")).isEqualTo(expected.sinkBad().get("unknown-table"));
            }
        }
        assertThat(letters).allSatisfy(l -> {
            assertThat(l.get("pipeline").asText()).isEqualTo("polls");
            assertThat(l.get("sink").isNull() ? "source" : l.get("sink").asText()).isIn("source", "clickhouse", "postgres");
            assertThat(l.get("origin").asText()).isEqualTo(log.toString());
            assertThat(l.get("reason").asText()).isNotBlank();
        });
        // the source's letters (lines that do not parse, a save without fields) are in the same place
        assertThat(letters.stream().filter(l -> l.get("sink").isNull())).hasSize(expected.sourceBad());

        // a replay of the whole log (its checkpoint forgotten) changes nothing and stores no letter twice
        try (var files = Files.walk(dir.resolve("checkpoints/polls"))) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        Map.Entry<Integer, String> replay = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());
        assertThat(replay.getKey()).as(replay.getValue()).isZero();
        assertState(ch, db, pg, replica, redis, expected, want.toString());
        assertThat(lines(sinkLetters)).hasSize(letters.size());

        // the letters are listed; once the missing table exists, its items are replayed into it
        Map.Entry<Integer, String> list = ServiceUnderTest.launcher(ENV, "dead-letters", "list", "--config",
                config.toString());
        assertThat(list.getKey()).as(list.getValue()).isZero();
        assertThat(list.getValue()).contains(letters.size() + " dead letter(s)");
        ch.execute("CREATE TABLE " + db + ".polls_ghost (id UInt64, x Int64, version UInt64, is_deleted UInt8)"
                + " ENGINE = ReplacingMergeTree(version) ORDER BY id");
        Map.Entry<Integer, String> fix = ServiceUnderTest.launcher(ENV, "dead-letters", "replay", "--config",
                config.toString(), "--sink", "clickhouse");
        int ghosts = expected.sinkBad().get("unknown-table");
        assertThat(fix.getValue()).contains("sink clickhouse: " + ghosts + " written");
        assertThat(fix.getKey()).as("some letters are refused again: the values are still bad").isEqualTo(1);
        assertThat(ch.execute("SELECT count() FROM " + db + ".polls_ghost FINAL FORMAT TabSeparated").trim())
                .isEqualTo(String.valueOf(expected.ghostKeys().size()));
        Map.Entry<Integer, String> after = ServiceUnderTest.launcher(ENV, "dead-letters", "list", "--config",
                config.toString());
        assertThat(after.getValue()).contains((letters.size() - ghosts) + " dead letter(s)");
    }

    private static void assertState(ClickHouseServer ch, String db, PostgresServer pg, String replica,
            RedisServer redis, Expected expected, String want) throws Exception {
        assertThat(ch.execute("SELECT id, choice_text, votes FROM " + db + ".polls_choice FINAL WHERE is_deleted = 0"
                + " ORDER BY id FORMAT TabSeparated")).isEqualTo(want);
        assertThat(pg.execute(replica, "SELECT id || E'\\t' || choice_text || E'\\t' || votes FROM polls_choice"
                + " ORDER BY id").strip()).isEqualTo(want.strip());
        Process scard = new ProcessBuilder("redis-cli", "-h", redis.host(), "-p", String.valueOf(redis.port()),
                "SCARD", "hot:polls.choice:all").redirectErrorStream(true).start();
        String members = new String(scard.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        scard.waitFor();
        assertThat(members).isEqualTo(String.valueOf(expected.anyValueKeys().size()));
    }
}
