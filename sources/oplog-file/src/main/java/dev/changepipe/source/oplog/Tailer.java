package dev.changepipe.source.oplog;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * One run's reading state: which file (segment) is being read, from where, and what comes next. Every
 * {@link #step()} runs on the run's reader thread (file I/O blocks it, nothing else) and produces at
 * most one chunk; steps are strictly sequential (the pipeline asks for one chunk at a time), so the
 * fields need no locking.
 */
final class Tailer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Tailer.class);

    /** Marks the end of a bounded (snapshot) run. */
    static final Chunk FINISHED = Chunk.end("\u0000finished", Offset.of(0));

    /** Returned by {@link #readChunk} when the file turned out rewritten: step again at once. */
    private static final Chunk RESTARTED = Chunk.end("\u0000restarted", Offset.of(0));

    private static final int SCAN_BYTES = 64 << 10;

    private final OplogFileSource source;
    private final OplogFileOptions options;
    private final boolean directory;
    private final boolean follow;
    private final Scheduler reader;
    private final Scheduler timer;
    private final ChangeWatcher watcher;
    private final PathMatcher matcher;

    private boolean initialized;
    private boolean finished;
    private long maxGeneration;
    private Segment current;
    private final Deque<Segment> queued = new ArrayDeque<>();
    private String lastStartedName;
    /** When the last chunk of lines was cut (timer milliseconds), for the linger. */
    private long lastCutAt = Long.MIN_VALUE / 2;

    Tailer(OplogFileSource source, Scheduler reader, Scheduler timer) {
        this.source = source;
        this.options = source.options();
        this.directory = Files.isDirectory(options.path());
        this.follow = options.mode() == OplogFileOptions.Mode.FOLLOW;
        this.reader = reader;
        this.timer = timer;
        Path watched = directory ? options.path() : options.path().getParent();
        this.watcher = new ChangeWatcher(watched, follow && options.watchService(), options.pollInterval(), timer,
                options.name());
        this.matcher = options.path().getFileSystem().getPathMatcher("glob:" + options.glob());
    }

    /** The next chunk, {@link #FINISHED}, or empty when the caller should simply step again. */
    Mono<Chunk> step() {
        return Mono.defer(this::stepOnReader).subscribeOn(reader);
    }

    private Mono<Chunk> stepOnReader() {
        if (!initialized) {
            return initialize();
        }
        if (finished) {
            return Mono.just(FINISHED);
        }
        long seen = watcher.version();
        try {
            if (current == null) {
                if (!queued.isEmpty()) {
                    current = queued.poll();
                    return Mono.empty();
                }
                return directory ? openNextInDirectory(seen) : openFile(seen);
            }
            Mono<Chunk> linger = linger(current, seen);
            if (linger != null) {
                return linger;
            }
            Chunk chunk = readChunk(current);
            if (chunk == RESTARTED) {
                return Mono.empty();
            }
            if (chunk != null) {
                lastCutAt = timer.now(TimeUnit.MILLISECONDS);
                return Mono.just(chunk);
            }
            return atEnd(current, seen);
        } catch (IOException e) {
            String origin = current == null ? null : current.origin.origin;
            return Mono.error(new PipelineException("source " + options.name() + ": reading "
                    + (current == null ? options.path() : current.path) + " failed: " + e, e, true, origin, null));
        }
    }

    /** Finds the highest generation ever handed out to this source's files. */
    private Mono<Chunk> initialize() {
        String prefix = options.path().toString() + options.path().getFileSystem().getSeparator();
        return source.checkpoints().loadAll()
                .filter(c -> directory ? c.origin().startsWith(prefix) : c.origin().equals(options.path().toString()))
                .map(c -> Math.max(Positions.generation(c.offset()), attrLong(c, FileOrigin.ATTR_GENERATION, 0)))
                .reduce(0L, Math::max)
                .doOnNext(max -> {
                    maxGeneration = max;
                    initialized = true;
                })
                .then(Mono.empty());
    }

    // ---- opening files

    private Mono<Chunk> openFile(long seen) {
        Path path = options.path();
        if (!Files.isRegularFile(path)) {
            if (!follow) {
                log.info("source {}: {} does not exist; nothing to read", options.name(), path);
                finished = true;
                return Mono.just(FINISHED);
            }
            return watcher.changeAfter(seen).then(Mono.empty());
        }
        return claimAndOpen(path, true);
    }

    private Mono<Chunk> openNextInDirectory(long seen) throws IOException {
        List<Path> later = laterFiles(lastStartedName);
        if (later.isEmpty()) {
            if (!follow) {
                finished = true;
                return Mono.just(FINISHED);
            }
            return watcher.changeAfter(seen).then(Mono.empty());
        }
        Path next = later.get(0);
        lastStartedName = next.getFileName().toString();
        // The newest file is never skipped when following: it may still grow.
        return claimAndOpen(next, follow && later.size() == 1);
    }

    private Mono<Chunk> claimAndOpen(Path path, boolean mayGrow) {
        String origin = path.toString();
        return source.checkpoints().claim(origin)
                .flatMap(token -> source.checkpoints().load(origin).map(Optional::of).defaultIfEmpty(Optional.empty())
                        .map(checkpoint -> new Claimed(token, checkpoint)))
                .publishOn(reader)
                .flatMap(claimed -> {
                    try {
                        open(path, origin, claimed.token, claimed.checkpoint.orElse(null), mayGrow);
                        return Mono.<Chunk>empty();
                    } catch (NoSuchFileException e) {
                        log.info("source {}: {} vanished before it was opened", options.name(), path);
                        if (directory) {
                            return Mono.<Chunk>empty();
                        }
                        return watcher.changeAfter(watcher.version()).then(Mono.<Chunk>empty());
                    } catch (IOException e) {
                        return Mono.error(new PipelineException("source " + options.name() + ": opening " + path
                                + " failed: " + e, e, true, origin, null));
                    }
                });
    }

    private record Claimed(long token, Optional<Checkpoint> checkpoint) {
    }

    private void open(Path path, String origin, long token, Checkpoint checkpoint, boolean mayGrow) throws IOException {
        Opened opened = openStable(path);
        FileOrigin state = source.register(origin, path, token);
        if (checkpoint == null) {
            log.info("source {}: reading {} from the start", options.name(), path);
            current = new Segment(state, path, opened, nextGeneration(), 0);
            return;
        }
        long generation = attrLong(checkpoint, FileOrigin.ATTR_GENERATION, Positions.generation(checkpoint.offset()));
        long position = attrLong(checkpoint, FileOrigin.ATTR_POSITION, Positions.position(checkpoint.offset()));
        if (sameFile(opened, checkpoint, position)) {
            long size = opened.channel.size();
            if (directory && !mayGrow && Boolean.parseBoolean(checkpoint.attributes().get(FileOrigin.ATTR_DONE))
                    && size == position) {
                log.debug("source {}: {} was finished before; skipping it", options.name(), path);
                opened.channel.close();
                source.unregister(origin);
                return;
            }
            log.info("source {}: resuming {} at byte {} (generation {})", options.name(), path, position, generation);
            Segment segment = new Segment(state, path, opened, generation, position);
            segment.readHead();
            current = segment;
            return;
        }
        Opened rotated = directory ? null : findRotated(path, checkpoint, position);
        if (rotated != null) {
            log.warn("source {}: {} was rotated while stopped; finishing the old file {} from byte {} first",
                    options.name(), path, rotated.path, position);
            Segment old = new Segment(state, rotated.path, rotated, generation, position);
            old.readHead();
            old.drainOnly = true;
            current = old;
            queued.add(new Segment(state, path, opened, nextGeneration(), 0));
            return;
        }
        long next = nextGeneration();
        log.warn("source {}: {} is not the file of the checkpoint (truncated or replaced); reading it from the start"
                + " as generation {}", options.name(), path, next);
        current = new Segment(state, path, opened, next, 0);
    }

    /** Whether the opened file is the one the checkpoint was written for. */
    private static boolean sameFile(Opened opened, Checkpoint checkpoint, long position) throws IOException {
        String key = checkpoint.attributes().get(FileOrigin.ATTR_FILE_KEY);
        if (key == null || !key.equals(opened.fileKey)) {
            return false;
        }
        if (opened.channel.size() < position) {
            return false;
        }
        int headLength = (int) attrLong(checkpoint, FileOrigin.ATTR_HEAD_LENGTH, -1);
        String crc = checkpoint.attributes().get(FileOrigin.ATTR_HEAD_CRC);
        if (headLength < 0 || crc == null) {
            return false;
        }
        byte[] head = readAt(opened.channel, 0, headLength);
        if (head.length != headLength) {
            return false;
        }
        CRC32 c = new CRC32();
        c.update(head);
        return Long.toString(c.getValue()).equals(crc);
    }

    /** The file the checkpoint was written for, renamed away within the same directory, or null. */
    private Opened findRotated(Path path, Checkpoint checkpoint, long position) throws IOException {
        Path dir = path.getParent();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path candidate : files) {
                if (candidate.equals(path) || !Files.isRegularFile(candidate)) {
                    continue;
                }
                Opened opened;
                try {
                    opened = openStable(candidate);
                } catch (IOException e) {
                    continue;
                }
                if (sameFile(opened, checkpoint, position)) {
                    return opened;
                }
                opened.channel.close();
            }
        }
        return null;
    }

    private long nextGeneration() {
        if (maxGeneration >= Positions.MAX_GENERATION) {
            throw new PipelineException("source " + options.name() + ": out of file generations");
        }
        return ++maxGeneration;
    }

    // ---- reading

    /**
     * Follow mode: when the lines waiting are less than a full chunk and the last chunk was cut less than
     * {@code linger} ago, waits for more (a change seen, so a chunk that filled up is cut at once) or the
     * end of the linger; null to read now.
     */
    private Mono<Chunk> linger(Segment s, long seen) throws IOException {
        long linger = options.linger().toMillis();
        if (!follow || linger == 0 || s.drainOnly || s.skip != null) {
            return null;
        }
        long waitUntil = lastCutAt + linger;
        long now = timer.now(TimeUnit.MILLISECONDS);
        if (now >= waitUntil) {
            return null;
        }
        long available = s.channel.size() - s.position;
        if (available <= 0 || available >= options.chunkMaxBytes()) {
            return null;
        }
        return Mono.firstWithSignal(watcher.changeAfter(seen),
                Mono.delay(Duration.ofMillis(waitUntil - now), timer).then()).then(Mono.empty());
    }

    private Chunk readChunk(Segment s) throws IOException {
        long size = s.channel.size();
        s.origin.size = size;
        if (size <= s.position) {
            return null;
        }
        if (size > Positions.MAX_POSITION) {
            throw new IOException("file is larger than 1 TiB");
        }
        if (s.skip != null) {
            return continueSkip(s, size);
        }
        int want = (int) Math.min(options.chunkMaxBytes(), size - s.position);
        byte[] buffer = readAt(s.channel, s.position, want);
        if (rewritten(s)) {
            // Truncated and written again past our position: what we read is not the continuation.
            return RESTARTED;
        }
        int last = lastNewline(buffer);
        if (last < 0) {
            if (buffer.length > options.maxLineBytes()) {
                return startSkip(s, buffer, size);
            }
            long available = size - s.position;
            if (buffer.length < available && buffer.length == options.chunkMaxBytes()) {
                int bigger = (int) Math.min((long) options.maxLineBytes() + 1, available);
                buffer = readAt(s.channel, s.position, bigger);
                last = lastNewline(buffer);
                if (last < 0) {
                    return buffer.length > options.maxLineBytes() ? startSkip(s, buffer, size) : null;
                }
            } else {
                return null;
            }
        }
        return emit(s, buffer, last + 1, false);
    }

    private Chunk emit(Segment s, byte[] buffer, int length, boolean unterminated) {
        long start = s.position;
        long end = start + length;
        s.generation.noteRead(start, buffer, length);
        s.position = end;
        source.bytesRead(length);
        LineBlock block = LineBlock.lines(source.parsing(), s.origin.origin, s.generation.number, start, buffer, length,
                unterminated);
        return Chunk.raw(s.origin.origin, Positions.offset(s.generation.number, end, false), buffer.length, block, false);
    }

    private Chunk startSkip(Segment s, byte[] buffer, long size) throws IOException {
        s.generation.noteRead(s.position, buffer, buffer.length);
        s.skip = new Skip(s.position, s.position + buffer.length, Arrays.copyOf(buffer, options.maxLineBytes()));
        return continueSkip(s, size);
    }

    /** Looks for the end of a line that is too long to keep; consumes it once complete. */
    private Chunk continueSkip(Segment s, long size) throws IOException {
        Skip skip = s.skip;
        while (skip.scanFrom < size) {
            int n = (int) Math.min(SCAN_BYTES, size - skip.scanFrom);
            byte[] block = readAt(s.channel, skip.scanFrom, n);
            for (int i = 0; i < block.length; i++) {
                if (block[i] == '\n') {
                    long newline = skip.scanFrom + i;
                    return consumeOverlong(s, newline - skip.lineStart, newline + 1);
                }
            }
            skip.scanFrom += block.length;
            if (block.length < n) {
                break;
            }
        }
        return null;
    }

    private Chunk consumeOverlong(Segment s, long lineLength, long end) {
        Skip skip = s.skip;
        s.skip = null;
        s.position = end;
        source.bytesRead(end - skip.lineStart);
        LineBlock block = LineBlock.overlong(source.parsing(), s.origin.origin, s.generation.number, skip.lineStart,
                skip.prefix, lineLength);
        return Chunk.raw(s.origin.origin, Positions.offset(s.generation.number, end, false), skip.prefix.length, block,
                false);
    }

    /** The unterminated last line of a file that will not grow (rotated, replaced, finished), or null. */
    private Chunk tail(Segment s, long size) throws IOException {
        if (s.position >= size) {
            return null;
        }
        if (s.skip != null) {
            return consumeOverlong(s, size - s.skip.lineStart, size);
        }
        long length = size - s.position;
        if (length > options.maxLineBytes()) {
            byte[] prefix = readAt(s.channel, s.position, options.maxLineBytes());
            s.skip = new Skip(s.position, size, prefix);
            return consumeOverlong(s, length, size);
        }
        byte[] buffer = readAt(s.channel, s.position, (int) length);
        return emit(s, buffer, buffer.length, true);
    }

    /** Nothing complete to read: decide whether the file ended, changed, or we wait. */
    private Mono<Chunk> atEnd(Segment s, long seen) throws IOException {
        long size = s.channel.size();
        if (rewritten(s)) {
            return Mono.empty();
        }
        if (s.drainOnly) {
            Chunk tail = tail(s, size);
            if (tail != null) {
                return Mono.just(tail);
            }
            log.info("source {}: finished the old file {} at byte {}", options.name(), s.path, s.position);
            s.close();
            current = queued.poll();
            return Mono.empty();
        }
        if (!follow) {
            return Mono.just(finish(s));
        }
        Opened replacement = replacement(s);
        if (replacement != null) {
            long next = nextGeneration();
            log.warn("source {}: {} was rotated or replaced; reading the old file to its end, then the new one as"
                    + " generation {}", options.name(), s.path, next);
            s.drainOnly = true;
            queued.add(new Segment(s.origin, s.path, replacement, next, 0));
            return Mono.empty();
        }
        if (directory && !laterFiles(s.path.getFileName().toString()).isEmpty()) {
            // Read once more: lines appended before the later file appeared must not be lost.
            Chunk chunk = readChunk(s);
            if (chunk == null) {
                chunk = tail(s, s.channel.size());
            }
            return Mono.just(chunk != null ? chunk : finish(s));
        }
        return watcher.changeAfter(seen).then(Mono.empty());
    }

    /**
     * Whether the file shrank below the position or its first bytes changed (truncated, maybe written
     * again); if so the segment starts over from byte 0 as a new generation.
     */
    private boolean rewritten(Segment s) throws IOException {
        long size = s.channel.size();
        if (size >= s.position && s.generation.headMatches(readAt(s.channel, 0, s.generation.headLength()))) {
            return false;
        }
        long next = nextGeneration();
        log.warn("source {}: {} shrank below byte {} or its first bytes changed (truncated); reading it from the"
                + " start as generation {}", options.name(), s.path, s.position, next);
        s.restart(next);
        return true;
    }

    /** The empty chunk that completes the segment's origin. */
    private Chunk finish(Segment s) {
        Chunk end = Chunk.end(s.origin.origin, Positions.offset(s.generation.number, s.position, true));
        log.info("source {}: {} read to byte {}; completing it", options.name(), s.path, s.position);
        s.close();
        current = null;
        if (!directory) {
            finished = true;
        }
        return end;
    }

    /** A different file now under the segment's path, opened, or null (same file or none). */
    private Opened replacement(Segment s) throws IOException {
        String key;
        try {
            key = fileKey(s.path);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (key.equals(s.fileKey)) {
            return null;
        }
        try {
            return openStable(s.path);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private List<Path> laterFiles(String after) throws IOException {
        List<Path> files = new ArrayList<>();
        Path dir = options.path();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            for (Path p : stream) {
                String name = p.getFileName().toString();
                if ((after == null || name.compareTo(after) > 0) && matcher.matches(p.getFileName())
                        && !p.equals(options.deadLetterFile()) && Files.isRegularFile(p)) {
                    files.add(p.toAbsolutePath().normalize());
                }
            }
        }
        files.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        return files;
    }

    // ---- files

    private record Opened(Path path, FileChannel channel, String fileKey) {
    }

    /** Opens the file, making sure the file key belongs to the file opened (no replacement in between). */
    private static Opened openStable(Path path) throws IOException {
        for (int attempt = 0; ; attempt++) {
            String before = fileKey(path);
            FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
            String after;
            try {
                after = fileKey(path);
            } catch (IOException e) {
                channel.close();
                throw e;
            }
            if (before.equals(after) || attempt >= 3) {
                return new Opened(path, channel, after);
            }
            channel.close();
        }
    }

    static String fileKey(Path path) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class);
        return String.valueOf(attributes.fileKey());
    }

    static byte[] readAt(FileChannel channel, long position, int length) throws IOException {
        byte[] bytes = new byte[length];
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                break;
            }
            at += n;
        }
        return buffer.hasRemaining() ? Arrays.copyOf(bytes, buffer.position()) : bytes;
    }

    private static int lastNewline(byte[] buffer) {
        for (int i = buffer.length - 1; i >= 0; i--) {
            if (buffer[i] == '\n') {
                return i;
            }
        }
        return -1;
    }

    private static long attrLong(Checkpoint checkpoint, String name, long otherwise) {
        String value = checkpoint.attributes().get(name);
        if (value == null) {
            return otherwise;
        }
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new PipelineException("checkpoint of " + checkpoint.origin() + " has a bad " + name + ": " + value, e);
        }
    }

    @Override
    public void close() {
        watcher.close();
        if (current != null) {
            current.close();
            current = null;
        }
        for (Segment s : queued) {
            s.close();
        }
        queued.clear();
    }

    /** A line over maxLineBytes being skipped: where it starts, how far it was scanned, its first bytes. */
    private static final class Skip {
        final long lineStart;
        long scanFrom;
        final byte[] prefix;

        Skip(long lineStart, long scanFrom, byte[] prefix) {
            this.lineStart = lineStart;
            this.scanFrom = scanFrom;
            this.prefix = prefix;
        }
    }

    /** One generation of one file being read through an open channel. */
    private final class Segment {
        final FileOrigin origin;
        final Path path;
        final FileChannel channel;
        final String fileKey;
        FileOrigin.Generation generation;
        long position;
        boolean drainOnly;
        Skip skip;

        Segment(FileOrigin origin, Path path, Opened opened, long generation, long position) {
            this.origin = origin;
            this.path = path;
            this.channel = opened.channel;
            this.fileKey = opened.fileKey;
            this.generation = origin.generation(generation, opened.fileKey);
            this.position = position;
        }

        /** Fills the generation's head from the file (a resumed file was not read from its start). */
        void readHead() throws IOException {
            byte[] head = readAt(channel, 0, (int) Math.min(FileOrigin.HEAD_BYTES, channel.size()));
            generation.noteRead(0, head, head.length);
        }

        void restart(long newGeneration) {
            generation = origin.generation(newGeneration, fileKey);
            position = 0;
            skip = null;
        }

        void close() {
            try {
                channel.close();
            } catch (IOException e) {
                log.debug("closing {}: {}", path, e.toString());
            }
        }
    }
}
