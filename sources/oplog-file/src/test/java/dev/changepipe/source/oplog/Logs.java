package dev.changepipe.source.oplog;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Writing log lines in tests. */
final class Logs {

    private Logs() {
    }

    /** A JSON Lines upsert of {@code table} row {@code id} with value {@code n}, newline-terminated. */
    static String jsonLine(String table, long id, long n) {
        return "{\"op\":\"update\",\"table\":\"" + table + "\",\"key\":{\"id\":" + id + "},\"values\":{\"id\":" + id
                + ",\"n\":" + n + "}}\n";
    }

    /** A Django SAVE line of {@code polls.question} row {@code pk}, newline-terminated. */
    static String djangoSave(long time, long pk, String text) {
        return time + " SAVE [{\"model\": \"polls.question\", \"pk\": " + pk + ", \"fields\": {\"question_text\": \""
                + text + "\"}}]\n";
    }

    static void append(Path file, String text) {
        append(file, text.getBytes(StandardCharsets.UTF_8));
    }

    static void append(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
