package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
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
 * default settings. Every good change lands as the source's final state, every bad record is one dead
 * letter with its reason, the pipeline is never restarted, and a replay of the whole log changes
 * nothing.
 */
@ExtendWith(ClickHouseServerExtension.class)
class BadDataIntegrationTest {

    private static final int LINES = 100_000;
    private static final int KEYS = 20_000;
    /** The heap the defaults are sized for. */
    private static final Map<String, String> ENV = Map.of("PIPELINE_JAVA_OPTS", "-Xmx256m");
    private static final String UUID = "8a3b9bd4-7c76-4f0e-a6a2-2b1b0b1c6d9e";

    /** What the generator wrote: the final row of every key, and how many bad lines of each kind. */
    record Expected(TreeMap<Long, String> rows, Map<String, Integer> sinkBad, int sourceBad) {
    }

    static Expected generate(Path log, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        TreeMap<Long, String> rows = new TreeMap<>();
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
                    } else {
                        out.write(time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + ", \"fields\": {" + fields
                                + "}}]\n");
                        rows.put(pk, pk + "\tchoice " + i + "\t" + votes);
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
                }
            }
        }
        return new Expected(rows, sinkBad, sourceBad);
    }

    private static String save(String time, long pk, String fields) {
        return time + " SAVE [{\"model\": \"polls.choice\", \"pk\": " + pk + ", \"fields\": {" + fields + "}}]";
    }

    private static String config(Path dir, Path log, String clickHouseUrl, String database) {
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
                pipelines:
                  - name: polls
                    source:
                      type: oplog-file
                      path: %2$s
                      mode: snapshot
                      deadLetterFile: %1$s/malformed.jsonl
                    sinks:
                      - type: clickhouse
                        connection: test
                        tables:
                          polls.choice:
                            create:
                              columns: ["id UInt64", "choice_text String", "votes Int32", "uuid UUID", "created DateTime"]
                              orderBy: [id]
                """.formatted(dir, log, clickHouseUrl, database);
    }

    private static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            out.add(AdminServer.JSON.readTree(line));
        }
        return out;
    }

    @Test
    void oneBadRecordCostsOneDeadLetterNothingStallsAndAReplayChangesNothing(ClickHouseServer ch, @TempDir Path dir)
            throws Exception {
        String db = ch.createDatabase("bad_data");
        Path log = dir.resolve("polls.log");
        Expected expected = generate(log, 13);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, config(dir, log, ch.httpUrl(), db));

        Map.Entry<Integer, String> run = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());

        assertThat(run.getKey()).as(run.getValue()).isZero();
        assertThat(run.getValue()).doesNotContain("restart").doesNotContain("ERROR");
        String state = ch.execute("SELECT id, choice_text, votes FROM " + db + ".polls_choice FINAL WHERE is_deleted = 0"
                + " ORDER BY id FORMAT TabSeparated");
        StringBuilder want = new StringBuilder();
        expected.rows().values().forEach(r -> want.append(r).append('\n'));
        assertThat(state).isEqualTo(want.toString());

        Path sinkLetters = dir.resolve("checkpoints/polls.dead-letters.jsonl");
        List<JsonNode> letters = lines(sinkLetters);
        Map<String, Integer> byCause = new TreeMap<>();
        letters.forEach(l -> byCause.merge(l.get("cause").asText(), 1, Integer::sum));
        assertThat(byCause).isEqualTo(expected.sinkBad());
        assertThat(letters).allSatisfy(l -> {
            assertThat(l.get("pipeline").asText()).isEqualTo("polls");
            assertThat(l.get("sink").asText()).isEqualTo("clickhouse");
            assertThat(l.get("origin").asText()).isEqualTo(log.toString());
            assertThat(l.get("reason").asText()).isNotBlank();
        });
        assertThat(lines(dir.resolve("malformed.jsonl"))).hasSize(expected.sourceBad());

        // a replay of the whole log (its checkpoint forgotten) changes nothing and stores no letter twice
        try (var files = Files.walk(dir.resolve("checkpoints/polls"))) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        Map.Entry<Integer, String> replay = ServiceUnderTest.launcher(ENV, "run", "--config", config.toString());
        assertThat(replay.getKey()).as(replay.getValue()).isZero();
        assertThat(ch.execute("SELECT id, choice_text, votes FROM " + db + ".polls_choice FINAL WHERE is_deleted = 0"
                + " ORDER BY id FORMAT TabSeparated")).isEqualTo(want.toString());
        assertThat(lines(sinkLetters)).hasSize(letters.size());
        assertThat(lines(dir.resolve("malformed.jsonl"))).hasSize(expected.sourceBad());

        // the dead letters can be listed
        Map.Entry<Integer, String> list = ServiceUnderTest.launcher(ENV, "dead-letters", "list", "--config",
                config.toString());
        assertThat(list.getKey()).as(list.getValue()).isZero();
        assertThat(list.getValue()).contains(letters.size() + " dead letter(s)");
    }
}
