package dev.changepipe.core;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link DeadLetterStore} in a file of JSON lines, one object per letter:
 *
 * <pre>{"id":"…","at":"2026-12-05T06:30:00Z","pipeline":"p","sink":"clickhouse","origin":"/var/log/app.log",
 *  "position":1234,"table":"polls.choice","key":"{id=48}","cause":"conversion","reason":"…","record":"…"}</pre>
 *
 * ({@code sink}, {@code table} and {@code key} are {@code null} where unknown.) An append writes the new
 * lines and forces them to disk before it returns. The identities of the letters in the file are read
 * when it is opened, so a letter is stored once however often its record is read again. A line cut
 * short by a crash is ignored (and the next append starts on a new line). Counts every new letter in
 * {@value #METRIC}, tagged {@code pipeline}, {@code sink} ({@code source} for the source) and
 * {@code cause}.
 */
public final class FileDeadLetterStore implements DeadLetterStore {

    /** Counter: dead letters stored. */
    public static final String METRIC = "changepipe.dead.letters";

    private static final Logger log = LoggerFactory.getLogger(FileDeadLetterStore.class);

    private final Path file;
    private final String pipeline;
    private final MeterRegistry registry;
    private final Set<String> ids = new HashSet<>();
    private final Map<String, Counter> counters = new LinkedHashMap<>();
    private FileChannel channel;
    private boolean endsWithNewline = true;

    private FileDeadLetterStore(Path file, String pipeline, MeterRegistry registry) {
        this.file = file.toAbsolutePath().normalize();
        this.pipeline = pipeline;
        this.registry = registry;
    }

    /**
     * Opens (does not yet create) the store in {@code file} and reads the identities of the letters
     * in it.
     *
     * @throws PipelineException when the file exists but cannot be read, or is a directory
     */
    public static FileDeadLetterStore open(Path file, String pipeline, MeterRegistry registry) {
        FileDeadLetterStore store = new FileDeadLetterStore(file, pipeline, registry);
        store.load();
        return store;
    }

    @Override
    public String pipeline() {
        return pipeline;
    }

    /** The file. */
    public Path file() {
        return file;
    }

    private void load() {
        if (Files.isDirectory(file)) {
            throw new PipelineException("dead-letter file " + file + " is a directory");
        }
        if (!Files.exists(file)) {
            return;
        }
        for (DeadLetterLine line : readLines()) {
            ids.add(line.id);
        }
    }

    @Override
    public synchronized int append(List<DeadLetter> letters) {
        StringBuilder text = new StringBuilder();
        List<DeadLetter> added = new ArrayList<>();
        Set<String> batch = new HashSet<>();
        for (DeadLetter letter : letters) {
            String id = letter.id();
            if (ids.contains(id) || !batch.add(id)) {
                continue;
            }
            added.add(letter);
            text.append(toJson(id, letter)).append('\n');
        }
        if (added.isEmpty()) {
            return 0;
        }
        try {
            if (channel == null) {
                Path parent = file.getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.APPEND);
                endsWithNewline = endsWithNewline();
            }
            if (!endsWithNewline) {
                text.insert(0, '\n'); // after a line cut short by a crash
            }
            ByteBuffer buffer = ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8));
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            channel.force(false);
            endsWithNewline = true;
        } catch (IOException e) {
            throw new PipelineException("cannot write dead-letter file " + file + ": " + e, e, true);
        }
        ids.addAll(batch);
        for (DeadLetter letter : added) {
            counter(letter).increment();
            log.warn("dead letter: pipeline {}, {}, {}@{}{}: {} -> {}", letter.pipeline(),
                    letter.sink() == null ? "source" : "sink " + letter.sink(), letter.origin(), letter.position(),
                    letter.table() == null ? "" : ", table " + letter.table() + ", key " + letter.key(),
                    letter.reason(), file);
        }
        return added.size();
    }

    @Override
    public synchronized List<DeadLetter> list() {
        if (!Files.exists(file)) {
            return List.of();
        }
        List<DeadLetter> letters = new ArrayList<>();
        for (DeadLetterLine line : readLines()) {
            letters.add(line.letter);
        }
        return letters;
    }

    @Override
    public synchronized void close() {
        if (channel == null) {
            return;
        }
        try {
            channel.close();
        } catch (IOException e) {
            log.warn("closing dead-letter file {} failed: {}", file, e.toString());
        } finally {
            channel = null;
        }
    }

    private Counter counter(DeadLetter letter) {
        String sink = letter.sink() == null ? "source" : letter.sink();
        return counters.computeIfAbsent(letter.pipeline() + '\0' + sink + '\0' + letter.cause(),
                k -> Counter.builder(METRIC).description("dead letters stored (bad records skipped)")
                        .tag(PipelineMetrics.TAG_PIPELINE, letter.pipeline()).tag(PipelineMetrics.TAG_SINK, sink)
                        .tag("cause", letter.cause()).register(registry));
    }

    private boolean endsWithNewline() throws IOException {
        long size = channel.size();
        if (size == 0) {
            return true;
        }
        ByteBuffer last = ByteBuffer.allocate(1);
        try (FileChannel read = FileChannel.open(file, StandardOpenOption.READ)) {
            read.read(last, size - 1);
        }
        return last.get(0) == '\n';
    }

    private record DeadLetterLine(String id, DeadLetter letter) {
    }

    private List<DeadLetterLine> readLines() {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new PipelineException("cannot read dead-letter file " + file + ": " + e, e);
        }
        List<DeadLetterLine> out = new ArrayList<>(lines.size());
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> o;
            try {
                o = FlatJson.parse(line);
            } catch (IllegalArgumentException e) {
                continue; // cut short by a crash before it was forced: never acknowledged, so read again
            }
            Object id = o.get("id");
            if (!(id instanceof String) || !(o.get("position") instanceof Long)) {
                continue;
            }
            DeadLetter letter = new DeadLetter(str(o, "pipeline"), str(o, "sink"), str(o, "origin"),
                    (Long) o.get("position"), str(o, "table"), str(o, "key"), str(o, "cause"), str(o, "reason"),
                    str(o, "record"));
            out.add(new DeadLetterLine((String) id, letter));
        }
        return out;
    }

    private static String str(Map<String, Object> o, String field) {
        Object v = o.get(field);
        return v == null ? null : v.toString();
    }

    static String toJson(String id, DeadLetter l) {
        StringBuilder b = new StringBuilder(256 + l.record().length());
        b.append('{');
        field(b, "id", id).append(',');
        field(b, "at", Instant.now().toString()).append(',');
        field(b, "pipeline", l.pipeline()).append(',');
        field(b, "sink", l.sink()).append(',');
        field(b, "origin", l.origin()).append(',');
        b.append("\"position\":").append(l.position()).append(',');
        field(b, "table", l.table()).append(',');
        field(b, "key", l.key()).append(',');
        field(b, "cause", l.cause()).append(',');
        field(b, "reason", l.reason()).append(',');
        field(b, "record", l.record());
        return b.append('}').toString();
    }

    private static StringBuilder field(StringBuilder b, String name, String value) {
        b.append('"').append(name).append("\":");
        if (value == null) {
            return b.append("null");
        }
        return FlatJson.quote(b, value);
    }
}
