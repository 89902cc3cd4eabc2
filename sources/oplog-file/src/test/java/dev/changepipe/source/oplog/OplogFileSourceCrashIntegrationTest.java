package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.FileCheckpointStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kill-and-restart: a child JVM ({@link ReplicatorMain}) follows a log that keeps growing and is killed
 * with SIGKILL at random points, again and again. After every kill the checkpoint is never ahead of
 * what the sink made durable; at the end every change was delivered at least once, and within every
 * run the changes of each key arrive in log order, each with the same version every time.
 */
class OplogFileSourceCrashIntegrationTest {

    private static final int KEYS = 37;
    private static final int ROUNDS = 6;
    private static final int LINES_PER_ROUND = 2500;

    @TempDir
    Path dir;

    @Test
    void killedAtRandomPointsDeliversEveryChangeAtLeastOnceInOrderPerKeyAndNeverCheckpointsAhead() throws Exception {
        Path log = dir.resolve("app.log");
        Path checkpoints = dir.resolve("checkpoints");
        Path results = dir.resolve("results.txt");
        Files.createFile(log);
        Random random = new Random();
        long seed = random.nextLong();
        random.setSeed(seed);
        List<Long> lineEnds = new ArrayList<>();
        int written = 0;
        int killedMidStream = 0;

        for (int round = 0; round <= ROUNDS; round++) {
            Process child = start(log, checkpoints, results);
            try {
                boolean last = round == ROUNDS;
                int target = written + (last ? 0 : LINES_PER_ROUND);
                while (written < target) {
                    int batch = Math.min(target - written, 1 + random.nextInt(400));
                    written = appendLines(log, written, batch, lineEnds);
                }
                if (last) {
                    int all = written;
                    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                            .until(() -> delivered(results).size() == all);
                } else {
                    int before = delivered(results).size();
                    int killAt = before + 1 + random.nextInt(LINES_PER_ROUND);
                    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(5))
                            .until(() -> delivered(results).size() >= Math.min(killAt, target) || !child.isAlive());
                }
            } finally {
                if (round < ROUNDS && delivered(results).size() < written) {
                    killedMidStream++;
                }
                child.destroyForcibly(); // SIGKILL
                assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }
            assertCheckpointNotAhead(log, checkpoints, results, lineEnds, seed);
        }

        assertThat(killedMidStream).as("kills that interrupted the stream").isPositive();
        Set<Long> delivered = delivered(results);
        for (long n = 0; n < written; n++) {
            assertThat(delivered).as("change " + n + " (seed " + seed + ")").contains(n);
        }
        assertInOrderPerKeyWithinEachRunAndVersionsDeterministic(results, seed);
    }

    private static Process start(Path log, Path checkpoints, Path results) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                ReplicatorMain.class.getName(), log.toString(), checkpoints.toString(), results.toString())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
    }

    private static int appendLines(Path log, int from, int count, List<Long> lineEnds) {
        StringBuilder b = new StringBuilder();
        long end = lineEnds.isEmpty() ? 0 : lineEnds.get(lineEnds.size() - 1);
        for (int n = from; n < from + count; n++) {
            String line = "{\"op\":\"update\",\"table\":\"t\",\"key\":{\"id\":" + (n % KEYS) + "},\"values\":{\"id\":"
                    + (n % KEYS) + ",\"n\":" + n + "}}\n";
            b.append(line);
            end += line.length();
            lineEnds.add(end);
        }
        Logs.append(log, b.toString());
        return from + count;
    }

    private static void assertCheckpointNotAhead(Path log, Path checkpoints, Path results, List<Long> lineEnds, long seed) {
        Checkpoint c = FileCheckpointStore.open(checkpoints).load(log.toString()).block(Duration.ofSeconds(10));
        if (c == null) {
            return;
        }
        long position = Long.parseLong(c.attributes().get(FileOrigin.ATTR_POSITION));
        Set<Long> delivered = delivered(results);
        for (int n = 0; n < lineEnds.size() && lineEnds.get(n) <= position; n++) {
            assertThat(delivered).as("change " + n + " is below the checkpoint " + position + " (seed " + seed + ")")
                    .contains((long) n);
        }
    }

    /** Every change n in the results file; lines cut by a kill are ignored. */
    private static Set<Long> delivered(Path results) {
        Set<Long> all = new HashSet<>();
        for (long[] entry : entries(results)) {
            if (entry != null) {
                all.add(entry[0]);
            }
        }
        return all;
    }

    private static void assertInOrderPerKeyWithinEachRunAndVersionsDeterministic(Path results, long seed) {
        Map<Long, Long> versionOf = new HashMap<>();
        Map<Long, Long> lastInRun = new HashMap<>();
        for (long[] entry : entries(results)) {
            if (entry == null) {
                lastInRun.clear(); // a new run
                continue;
            }
            long n = entry[0];
            long version = entry[1];
            Long earlier = versionOf.putIfAbsent(n, version);
            assertThat(earlier == null ? version : earlier).as("version of change " + n + " (seed " + seed + ")").isEqualTo(version);
            Long previous = lastInRun.put(n % KEYS, n);
            if (previous != null) {
                assertThat(n).as("key " + (n % KEYS) + " in order (seed " + seed + ")").isGreaterThan(previous);
            }
        }
    }

    /** The results as {n, version}, with {@code null} for each run marker. */
    private static List<long[]> entries(Path results) {
        List<String> lines;
        try {
            lines = Files.exists(results) ? Files.readAllLines(results) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<long[]> out = new ArrayList<>();
        for (String line : lines) {
            if (line.startsWith("run ")) {
                out.add(null);
                continue;
            }
            String[] parts = line.split(":");
            if (parts.length != 3 || !parts[0].equals(parts[2]) || parts[0].isEmpty()) {
                continue;
            }
            try {
                out.add(new long[] {Long.parseLong(parts[0]), Long.parseLong(parts[1])});
            } catch (NumberFormatException e) {
                // cut by a kill
            }
        }
        return out;
    }
}
