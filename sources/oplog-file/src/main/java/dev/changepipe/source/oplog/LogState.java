package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The final state of every key of an operation log up to what its pipeline acknowledged (each file's
 * checkpoint): the truth an oplog-file pipeline's targets are verified against (docs/verify.md).
 *
 * <p>{@link #scan} reads each file of the source from its start to its checkpoint, parsing lines as the
 * source does (a line the source dead-lettered is skipped here; nothing is written to the dead letters),
 * and spills every change to one of a few partition files, chosen by its key; memory holds one
 * partition's keys at a time ({@link #finals}), never a map of every row. The files are the ones there
 * now: a generation the checkpoint names but that was replaced (a truncated or re-created file) is no
 * longer in the log, and is skipped with a note.
 */
final class LogState implements AutoCloseable {

    /** About this many bytes of log per partition: what one partition's keys take in memory is a few times that. */
    static final long PARTITION_BYTES = 16L << 20;
    private static final int MAX_PARTITIONS = 256;
    private static final int MAX_FIELDS = 1000;
    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(1);

    private final OplogFileOptions options;
    /** One parser for the whole read, as the source has (a parser keeps its scratch space per thread). */
    private final LineParser parser;
    private final CheckpointStore checkpoints;
    private final Path spill;
    private final int partitions;
    private final List<String> tables = new ArrayList<>();
    private final Map<String, Integer> tableIds = new HashMap<>();
    private final Map<String, List<String>> keyFields = new LinkedHashMap<>();
    /** The fields of each table's rows, in the order they first appear (at most {@link #MAX_FIELDS}). */
    private final Map<String, java.util.Set<String>> fields = new HashMap<>();
    /**
     * The field names last added for each table: the rows a parser makes with one column layout share
     * their names' set, so a table's next change of the same layout adds nothing and is skipped.
     */
    private final Map<String, java.util.Set<String>> lastNames = new HashMap<>();
    private final Map<String, Long> changes = new HashMap<>();
    /** How far each origin was read: its generation and the byte after its last line read. */
    private final Map<String, long[]> scanned = new HashMap<>();
    private final List<String> notes = new ArrayList<>();
    private long lines;
    private long bytes;
    /** Told how far the scan read, now and then; null for none. */
    private Consumer<String> progress;
    private long size;
    private long started = System.nanoTime();
    private long lastProgress = System.nanoTime();
    private static final int PROGRESS_SECONDS = 5;

    /** One key's last change: its version, whether it deleted the row, its row or, for a delete, its key ({@link #values}). */
    record Final(long version, boolean deleted, byte[] values) {
    }

    private LogState(OplogFileOptions options, CheckpointStore checkpoints, Path spill, int partitions) {
        this.options = options;
        this.parser = options.lineParser();
        this.checkpoints = checkpoints;
        this.spill = spill;
        this.partitions = partitions;
    }

    /** Reads the log up to its checkpoints into partition files under a new temporary directory. */
    static LogState scan(OplogFileOptions options, CheckpointStore checkpoints) throws IOException {
        return scan(options, checkpoints, PARTITION_BYTES, null);
    }

    /**
     * As {@link #scan(OplogFileOptions, CheckpointStore)}, with a partition per {@code partitionBytes} of
     * log, telling {@code progress} (when not null) every {@value #PROGRESS_SECONDS} s how far it read.
     */
    static LogState scan(OplogFileOptions options, CheckpointStore checkpoints, long partitionBytes,
            Consumer<String> progress) throws IOException {
        long size = 0;
        for (Path file : files(options)) {
            size += Files.size(file);
        }
        int partitions = (int) Math.max(1, Math.min(MAX_PARTITIONS, size / partitionBytes + 1));
        LogState state = new LogState(options, checkpoints, Files.createTempDirectory("changepipe-verify-"), partitions);
        state.progress = progress;
        state.size = size;
        try {
            state.spillAll();
            return state;
        } catch (IOException | RuntimeException e) {
            state.close();
            throw e;
        }
    }

    /** The tables the log changed, in the order they first appear. */
    List<String> tables() {
        return List.copyOf(keyFields.keySet());
    }

    /** The key fields of a table's first change. */
    List<String> keyFields(String table) {
        return keyFields.getOrDefault(table, List.of());
    }

    /** The fields of the table's changes, keys first, in the order they first appear. */
    List<String> fields(String table) {
        return List.copyOf(fields.getOrDefault(table, java.util.Set.of()));
    }

    /** How many changes of the table the log holds up to the checkpoints. */
    long changes(String table) {
        return changes.getOrDefault(table, 0L);
    }

    long lines() {
        return lines;
    }

    long bytes() {
        return bytes;
    }

    int partitions() {
        return partitions;
    }

    /** Where the partition files are. */
    Path directory() {
        return spill;
    }

    /** What the scan could not read (a file that is not the one of its checkpoint), for the report. */
    List<String> notes() {
        return notes;
    }

    /**
     * The version at the checkpoints {@code read} names (the newest file's): above every change up to
     * them, below every later one (no line holds it: it is the last line's newline).
     */
    static long versionAt(Map<String, long[]> read) {
        long best = 0;
        for (long[] g : read.values()) {
            if (g[1] > 0) {
                best = Math.max(best, Positions.version(g[0], g[1]) - 1);
            }
        }
        return best;
    }

    private void spillAll() throws IOException {
        DataOutputStream[] outs = new DataOutputStream[partitions];
        for (int i = 0; i < partitions; i++) {
            outs[i] = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(partition(i)), 1 << 16));
        }
        try {
            forEach(Map.of(), scanned, item -> {
                Integer id = tableIds.get(item.table());
                if (id == null) {
                    id = tables.size();
                    tables.add(item.table());
                    tableIds.put(item.table(), id);
                    keyFields.put(item.table(), List.copyOf(item.key().keySet()));
                }
                changes.merge(item.table(), 1L, Long::sum);
                java.util.Set<String> seen = fields.computeIfAbsent(item.table(), t -> new java.util.LinkedHashSet<>());
                java.util.Set<String> names = item.values().keySet();
                if (seen.size() < MAX_FIELDS && lastNames.get(item.table()) != names) {
                    lastNames.put(item.table(), names);
                    item.key().keySet().forEach(seen::add);
                    names.forEach(seen::add);
                }
                String identity = identity(item.key());
                DataOutputStream o = outs[Math.floorMod(identity.hashCode(), partitions)];
                try {
                    o.writeInt(id);
                    string(o, identity);
                    o.writeLong(item.version());
                    boolean deleted = !item.kind().isSave();
                    o.writeBoolean(deleted);
                    byte[] values = encode(deleted ? item.key() : row(item));
                    o.writeInt(values.length);
                    o.write(values);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        } finally {
            for (DataOutputStream o : outs) {
                o.close();
            }
        }
    }

    /**
     * Calls {@code each} with the last change of every key of {@code table} in the spilled log (the one
     * of the highest version), one partition at a time.
     */
    void finals(String table, BiConsumer<String, Final> each) throws IOException {
        Integer id = tableIds.get(table);
        if (id == null) {
            return;
        }
        for (int i = 0; i < partitions; i++) {
            Map<String, Final> last = new HashMap<>();
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(partition(i)),
                    1 << 16))) {
                while (true) {
                    int t;
                    try {
                        t = in.readInt();
                    } catch (EOFException end) {
                        break;
                    }
                    String identity = string(in);
                    long version = in.readLong();
                    boolean deleted = in.readBoolean();
                    byte[] values = new byte[in.readInt()];
                    in.readFully(values);
                    if (t == id) {
                        Final f = new Final(version, deleted, values);
                        last.merge(identity, f, (a, b) -> b.version >= a.version ? b : a);
                    }
                }
            }
            last.forEach(each);
        }
    }

    /**
     * Calls {@code each} with every change read from the log since the scan (or the last call) up to the
     * checkpoints now: what the pipeline acknowledged while verify ran.
     */
    void since(Map<String, long[]> from, Map<String, long[]> to, Consumer<ChangeItem> each) throws IOException {
        forEach(from, to, each);
    }

    /** A copy of how far the scan read. */
    Map<String, long[]> scanned() {
        Map<String, long[]> copy = new HashMap<>();
        scanned.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    /** A key's identity: its one value as text, or its values joined. */
    static String identity(Map<String, Object> key) {
        if (key.size() == 1) {
            return String.valueOf(key.values().iterator().next());
        }
        StringBuilder b = new StringBuilder();
        for (Object v : key.values()) {
            if (b.length() > 0) {
                b.append('\u001F');
            }
            b.append(v);
        }
        return b.toString();
    }

    /** A change's row: its values, and its key's where the values do not repeat them. */
    static Map<String, Object> row(ChangeItem item) {
        Map<String, Object> row = new LinkedHashMap<>(item.values());
        item.key().forEach(row::putIfAbsent);
        return row;
    }

    // ---- reading the log

    private void forEach(Map<String, long[]> from, Map<String, long[]> to, Consumer<ChangeItem> each)
            throws IOException {
        for (Path file : files(options)) {
            String origin = file.toString();
            Checkpoint c = checkpoints.load(origin).block(CALL_TIMEOUT);
            if (c == null) {
                continue; // nothing of it was acknowledged yet
            }
            long generation = attribute(c, FileOrigin.ATTR_GENERATION, Positions.generation(c.offset()));
            long position = attribute(c, FileOrigin.ATTR_POSITION, Positions.position(c.offset()));
            String fileKey = c.attributes().get(FileOrigin.ATTR_FILE_KEY);
            try {
                if (fileKey != null && !fileKey.equals(Tailer.fileKey(file))) {
                    note(file + ": not the file of its checkpoint (truncated or replaced since): not read");
                    continue;
                }
            } catch (NoSuchFileException gone) {
                continue;
            }
            long[] start = from.get(origin);
            long begin = start != null && start[0] == generation ? start[1] : 0;
            if (begin < position) {
                read(file, origin, generation, begin, position, each);
            }
            to.put(origin, new long[] {generation, position});
        }
    }

    private void note(String note) {
        if (!notes.contains(note)) {
            notes.add(note);
        }
    }

    private static long attribute(Checkpoint c, String name, long otherwise) {
        String v = c.attributes().get(name);
        return v == null ? otherwise : Long.parseLong(v);
    }

    /** The log's files as the source names its origins: the file, or the directory's files in name order. */
    static List<Path> files(OplogFileOptions options) throws IOException {
        Path path = options.path();
        if (!Files.isDirectory(path)) {
            return Files.isRegularFile(path) ? List.of(path) : List.of();
        }
        PathMatcher matcher = path.getFileSystem().getPathMatcher("glob:" + options.glob());
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(path)) {
            for (Path p : stream) {
                if (matcher.matches(p.getFileName()) && !p.equals(options.deadLetterFile()) && Files.isRegularFile(p)) {
                    files.add(p.toAbsolutePath().normalize());
                }
            }
        }
        files.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return files;
    }

    /** Parses the lines of {@code file} in {@code [from, to)}, as the source's parse stage does. */
    private void read(Path file, String origin, long generation, long from, long to, Consumer<ChangeItem> each)
            throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            byte[] buffer = new byte[1 << 20];
            int length = 0;
            long bufferStart = from;
            long position = from;
            while (position < to) {
                if (length == buffer.length) {
                    buffer = Arrays.copyOf(buffer, buffer.length * 2); // a line longer than the buffer
                }
                int n = channel.read(ByteBuffer.wrap(buffer, length, (int) Math.min(buffer.length - length, to - position)),
                        position);
                if (n < 0) {
                    note(file + ": shorter than its checkpoint (byte " + to + "): read to its end");
                    break;
                }
                position += n;
                length += n;
                bytes += n;
                progress();
                int start = 0;
                for (int nl; (nl = Bytes.indexOf(buffer, start, length, (byte) '\n')) >= 0; start = nl + 1) {
                    line(origin, generation, bufferStart + start, buffer, start, nl, each);
                }
                System.arraycopy(buffer, start, buffer, 0, length - start);
                bufferStart += start;
                length -= start;
            }
        }
    }

    private void progress() {
        long now = System.nanoTime();
        if (progress != null && now - lastProgress >= PROGRESS_SECONDS * 1_000_000_000L) {
            lastProgress = now;
            double seconds = (now - started) / 1e9;
            progress.accept(String.format("reading the log: %,d of about %,d MiB (%.0f %%), %,.0f lines/s", bytes >> 20,
                    size >> 20, 100.0 * bytes / Math.max(1, size), lines / seconds));
        }
    }

    private void line(String origin, long generation, long offset, byte[] data, int start, int end,
            Consumer<ChangeItem> each) {
        lines++;
        int contentEnd = end > start && data[end - 1] == '\r' ? end - 1 : end;
        int length = contentEnd - start;
        if (length == 0 || length > options.maxLineBytes()
                || !Bytes.isAscii(data, start, length) && DeadLetters.strictUtf8(data, start, length) == null) {
            return; // blank, or dead-lettered by the source
        }
        List<ChangeItem> items;
        try {
            items = parser.parse(new OplogLine(origin, offset, Positions.version(generation, offset), data,
                    start, length));
        } catch (MalformedLineException e) {
            return;
        }
        if (items != null) {
            items.forEach(each);
        }
    }

    // ---- spilled values: JSON's kinds of value, tagged

    private static final int NULL = 0;
    private static final int LONG = 1;
    private static final int DECIMAL = 2;
    private static final int STRING = 3;
    private static final int TRUE = 4;
    private static final int FALSE = 5;
    private static final int DOUBLE = 6;
    private static final int MAP = 7;
    private static final int LIST = 8;

    static byte[] encode(Map<String, Object> row) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            write(out, row);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> values(byte[] encoded) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(encoded))) {
            return (Map<String, Object>) read(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(DataOutputStream out, Object v) throws IOException {
        if (v == null) {
            out.writeByte(NULL);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            out.writeByte(LONG);
            out.writeLong(((Number) v).longValue());
        } else if (v instanceof BigDecimal d) {
            out.writeByte(DECIMAL);
            string(out, d.toString());
        } else if (v instanceof Boolean b) {
            out.writeByte(b ? TRUE : FALSE);
        } else if (v instanceof Double || v instanceof Float) {
            out.writeByte(DOUBLE);
            out.writeDouble(((Number) v).doubleValue());
        } else if (v instanceof Map<?, ?> m) {
            out.writeByte(MAP);
            out.writeInt(m.size());
            for (Map.Entry<?, ?> e : m.entrySet()) {
                string(out, String.valueOf(e.getKey()));
                write(out, e.getValue());
            }
        } else if (v instanceof List<?> l) {
            out.writeByte(LIST);
            out.writeInt(l.size());
            for (Object e : l) {
                write(out, e);
            }
        } else {
            out.writeByte(STRING);
            string(out, v.toString());
        }
    }

    private static Object read(DataInputStream in) throws IOException {
        int tag = in.readByte();
        switch (tag) {
            case NULL:
                return null;
            case LONG:
                return in.readLong();
            case DECIMAL:
                return new BigDecimal(string(in));
            case STRING:
                return string(in);
            case TRUE:
                return Boolean.TRUE;
            case FALSE:
                return Boolean.FALSE;
            case DOUBLE:
                return in.readDouble();
            case MAP: {
                int n = in.readInt();
                Map<String, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < n; i++) {
                    m.put(string(in), read(in));
                }
                return m;
            }
            case LIST: {
                int n = in.readInt();
                List<Object> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(read(in));
                }
                return l;
            }
            default:
                throw new IOException("spilled value of unknown kind " + tag);
        }
    }

    /** Any length, unlike {@code writeUTF}. */
    private static void string(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String string(DataInputStream in) throws IOException {
        byte[] b = new byte[in.readInt()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private Path partition(int i) {
        return spill.resolve("partition-" + i);
    }

    /** Deletes the partition files. */
    @Override
    public void close() {
        try (Stream<Path> files = Files.list(spill)) {
            for (Path f : files.toList()) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(spill);
        } catch (IOException e) {
            throw new UncheckedIOException("deleting " + spill, e);
        }
    }
}
