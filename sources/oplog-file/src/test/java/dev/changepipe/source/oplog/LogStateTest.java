package dev.changepipe.source.oplog;

import static dev.changepipe.source.oplog.Logs.append;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.pusher.SyncPusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The log's final state that verify compares (docs/verify.md): the last change of each key, read from
 * every file up to its checkpoint (what the sinks acknowledged), never past it; malformed lines skipped;
 * spilled into partitions so that one partition's keys are in memory at a time.
 */
class LogStateTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private static String line(String op, long id, String v) {
        return "{\"op\":\"" + op + "\",\"table\":\"t\",\"key\":{\"id\":" + id + "},\"values\":{\"id\":" + id
                + ",\"v\":\"" + v + "\"}}\n";
    }

    @Test
    void theFinalStateIsTheLastChangeOfEachKeyUpToTheCheckpointsInBoundedPartitions() throws IOException {
        Path logs = Files.createDirectories(dir.resolve("logs"));
        StringBuilder a = new StringBuilder();
        for (long id = 0; id < 1000; id++) {
            a.append(line("insert", id, "a" + id));
        }
        for (long id = 0; id < 100; id++) {
            a.append(line("delete", id, ""));
        }
        a.append("{not json\n");
        append(logs.resolve("a.log"), a.toString());
        StringBuilder b = new StringBuilder();
        for (long id = 100; id < 200; id++) {
            b.append(line("update", id, "b" + id));
        }
        append(logs.resolve("b.log"), b.toString());
        CheckpointStore store = FileCheckpointStore.open(dir.resolve("checkpoints"));
        OplogFileOptions options = OplogFileOptions.builder(logs).format(OplogFileOptions.Format.JSON_LINES)
                .mode(OplogFileOptions.Mode.SNAPSHOT).chunkMaxBytes(4096).deadLetterFile(dir.resolve("dead.jsonl")).build();
        snapshot(options, store);
        // appended after the pipeline acknowledged: not the pipeline's yet
        StringBuilder late = new StringBuilder();
        for (long id = 200; id < 210; id++) {
            late.append(line("update", id, "late"));
        }
        append(logs.resolve("b.log"), late.toString());

        Path spill;
        try (LogState log = LogState.scan(options, store, 8192, null)) {
            spill = log.directory();
            assertThat(log.partitions()).isGreaterThan(4);
            assertThat(log.tables()).containsExactly("t");
            assertThat(log.keyFields("t")).containsExactly("id");
            assertThat(log.changes("t")).isEqualTo(1200);
            assertThat(log.lines()).isEqualTo(1201);
            Map<String, LogState.Final> finals = new HashMap<>();
            log.finals("t", (identity, last) -> assertThat(finals.put(identity, last)).isNull());
            assertThat(finals).hasSize(1000);
            Map<Long, String> live = new TreeMap<>();
            finals.forEach((identity, last) -> {
                if (!last.deleted()) {
                    live.put(Long.parseLong(identity), (String) LogState.values(last.values()).get("v"));
                }
            });
            assertThat(live).hasSize(900).doesNotContainKeys(0L, 99L);
            assertThat(live.get(100L)).isEqualTo("b100");
            assertThat(live.get(205L)).isEqualTo("a205");
            assertThat(live.get(999L)).isEqualTo("a999");

            // once the pipeline acknowledged the appended lines, reading on from the scan sees them, and only them
            snapshot(options, store);
            List<ChangeItem> since = new ArrayList<>();
            Map<String, long[]> to = new HashMap<>();
            log.since(log.scanned(), to, since::add);
            assertThat(since).extracting(item -> item.key().get("id")).containsExactlyElementsOf(
                    java.util.stream.LongStream.range(200, 210).boxed().toList());
            assertThat(LogState.versionAt(to)).isGreaterThan(since.get(since.size() - 1).version());
        }
        assertThat(spill).doesNotExist();
    }

    private static void snapshot(OplogFileOptions options, CheckpointStore store) {
        Pipeline.builder("test").source(OplogFileSource.create(options, store, new SimpleMeterRegistry()))
                .sink(new RecordingSink()).pusher(SyncPusher.factory()).build().run().block(WAIT);
    }
}
