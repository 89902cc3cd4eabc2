package dev.changepipe.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileDeadLetterStoreTest {

    @TempDir
    Path dir;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private static DeadLetter letter(long position, String reason) {
        return new DeadLetter("p", "clickhouse", "app.log", position, "polls.choice", "{id=" + position + "}",
                "conversion", reason, "line \"" + position + "\"\twith\nodd ü text");
    }

    @Test
    void deadLettersAreIdempotentUnderReplayEvenAfterReopening() throws IOException {
        Path file = dir.resolve("sub/p.jsonl");
        FileDeadLetterStore store = FileDeadLetterStore.open(file, "p", registry);
        assertThat(store.append(List.of(letter(1, "a"), letter(2, "b"), letter(1, "a")))).isEqualTo(2);
        assertThat(store.append(List.of(letter(2, "b, said again"), letter(3, "c")))).isEqualTo(1);
        store.close();
        FileDeadLetterStore reopened = FileDeadLetterStore.open(file, "p", registry);
        assertThat(reopened.append(List.of(letter(1, "a"), letter(3, "c")))).isZero();
        assertThat(Files.readAllLines(file)).hasSize(3);
        assertThat(reopened.list()).containsExactly(letter(1, "a"), letter(2, "b"), letter(3, "c"));
        assertThat(registry.get(FileDeadLetterStore.METRIC).tag("sink", "clickhouse").tag("cause", "conversion")
                .counter().count()).isEqualTo(3);
        reopened.close();
    }

    @Test
    void aLineCutShortByACrashIsIgnoredAndTheNextAppendStartsOnANewLine() throws IOException {
        Path file = dir.resolve("p.jsonl");
        FileDeadLetterStore store = FileDeadLetterStore.open(file, "p", registry);
        store.append(List.of(letter(1, "a")));
        store.close();
        Files.writeString(file, "{\"id\":\"abc\",\"pipeline\":\"p\",\"reas", StandardOpenOption.APPEND);
        FileDeadLetterStore reopened = FileDeadLetterStore.open(file, "p", registry);
        assertThat(reopened.list()).containsExactly(letter(1, "a"));
        assertThat(reopened.append(List.of(letter(2, "b")))).isEqualTo(1);
        assertThat(reopened.list()).containsExactly(letter(1, "a"), letter(2, "b"));
        reopened.close();
    }

    @Test
    void aDirectoryIsRefusedNamingIt() throws IOException {
        Path file = Files.createDirectory(dir.resolve("letters"));
        assertThatThrownBy(() -> FileDeadLetterStore.open(file, "p", registry))
                .hasMessageContaining("dead-letter file " + file + " is a directory");
    }

    @Test
    void anItemIsRecordedAsJsonItCanBeWrittenAgainFrom() {
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("votes", "abc");
        values.put("tags", List.of("x", 2));
        values.put("nothing", null);
        ChangeItem item = ChangeItem.insert("polls.choice", Map.of("id", 48), values, 77);
        DeadLetter letter = DeadLetter.ofItem("p", "clickhouse", "app.log", item, "conversion", "'abc' is not a number");
        assertThat(letter.record()).isEqualTo("{\"kind\":\"INSERT\",\"table\":\"polls.choice\",\"key\":{\"id\":48},"
                + "\"values\":{\"votes\":\"abc\",\"tags\":[\"x\",2],\"nothing\":null},\"version\":77}");
        assertThat(letter.position()).isEqualTo(77);
        assertThat(letter.id()).isEqualTo(DeadLetter.ofItem("p", "clickhouse", "app.log", item, "conversion",
                "another reason").id());
        assertThat(letter.id()).isNotEqualTo(DeadLetter.ofItem("p", "postgres", "app.log", item, "conversion",
                "'abc' is not a number").id());
    }
}
