package dev.changepipe.source.oplog;

import dev.changepipe.core.DeadLetterStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Settings of an {@link OplogFileSource}. Immutable; build with {@link #builder(Path)}, which checks
 * every value and names the option at fault.
 *
 * @param path the log file, or a directory whose files matching {@code glob} are read in name order
 * @param glob in directory mode, which file names to read (a {@code glob:} pattern on the file name)
 * @param mode {@link Mode#SNAPSHOT} reads what is there and completes; {@link Mode#FOLLOW} keeps tailing
 * @param format the built-in line format, unless {@code parser} is set
 * @param pkFields the primary-key field name per Django model, for {@link Format#DJANGO}; default {@code id}
 * @param parser a custom line parser, or {@code null} for the one of {@code format}
 * @param chunkMaxBytes the most bytes of complete lines read into one chunk
 * @param maxLineBytes a longer line is malformed (dead-lettered)
 * @param pollInterval in follow mode, how often the file is checked for changes when no watch event came
 * @param linger in follow mode, how long lines may wait to join a chunk that is not full: a chunk of less than
 *     {@code chunkMaxBytes} is cut at most once per linger, so a busy log gives few large chunks rather than
 *     one per write; zero cuts a chunk at every change seen
 * @param watchService whether to react to file-system events (the JDK watch service) in follow mode;
 *     polling alone is used otherwise
 * @param deadLetterFile where malformed lines go, one JSON line each
 * @param failOnMalformed fail the run on a malformed line instead of dead-lettering it
 * @param deadLetters where dead letters go instead of {@code deadLetterFile}, or {@code null} (the
 *     pipeline's store: the service gives it when no {@code deadLetterFile} is configured)
 * @param name the source's name, for logs and the {@value OplogMetrics#TAG_SOURCE} metric tag
 */
public record OplogFileOptions(
        Path path,
        String glob,
        Mode mode,
        Format format,
        Map<String, String> pkFields,
        LineParser parser,
        int chunkMaxBytes,
        int maxLineBytes,
        Duration pollInterval,
        Duration linger,
        boolean watchService,
        Path deadLetterFile,
        boolean failOnMalformed,
        DeadLetterStore deadLetters,
        String name) {

    /** Whether to stop at the end of what is there or keep tailing. */
    public enum Mode {
        /** Read what is there (complete lines) and complete; each file's end is marked completed. */
        SNAPSHOT,
        /** Keep tailing: react to appends, truncation, re-creation, rotation and new files. */
        FOLLOW
    }

    /** The built-in line formats. */
    public enum Format {
        /** {@code <unix time> SAVE|DELETE <json array of Django objects>} ({@link LineParser#django}). */
        DJANGO,
        /** One JSON object per line ({@link LineParser#jsonLines()}). */
        JSON_LINES
    }

    /** Directory mode reads every file: {@code *}. */
    public static final String DEFAULT_GLOB = "*";
    public static final Mode DEFAULT_MODE = Mode.FOLLOW;
    public static final Format DEFAULT_FORMAT = Format.DJANGO;
    /** 1 MiB of lines per chunk. */
    public static final int DEFAULT_CHUNK_MAX_BYTES = 1 << 20;
    /** Lines over 1 MiB are malformed. */
    public static final int DEFAULT_MAX_LINE_BYTES = 1 << 20;
    public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofSeconds(1);
    /**
     * 100 ms: at 50,000 changes/s (about 10 MB/s) chunks fill to {@code chunkMaxBytes} first, and a quiet
     * log's change waits at most this long, far inside a second.
     */
    public static final Duration DEFAULT_LINGER = Duration.ofMillis(100);
    public static final boolean DEFAULT_WATCH_SERVICE = true;
    public static final boolean DEFAULT_FAIL_ON_MALFORMED = false;
    public static final String DEFAULT_NAME = "oplog-file";
    /** The default dead-letter file: next to the log file or directory, with this suffix. */
    public static final String DEAD_LETTER_SUFFIX = ".dead-letter.jsonl";
    /** The largest chunk buffer the JVM can hold comfortably. */
    public static final int MAX_BUFFER_BYTES = Integer.MAX_VALUE - 64;

    public OplogFileOptions {
        Objects.requireNonNull(path, "path must be set");
        path = path.toAbsolutePath().normalize();
        if (glob == null || glob.isBlank()) {
            throw new IllegalArgumentException("glob must not be blank");
        }
        Objects.requireNonNull(mode, "mode must be set");
        Objects.requireNonNull(format, "format must be set");
        pkFields = pkFields == null ? Map.of() : Map.copyOf(pkFields);
        pkFields.forEach((model, field) -> {
            if (model.isBlank() || field.isBlank()) {
                throw new IllegalArgumentException("pkFields: model and field must not be blank: " + model + "=" + field);
            }
        });
        if (chunkMaxBytes < 1 || chunkMaxBytes > MAX_BUFFER_BYTES) {
            throw new IllegalArgumentException("chunkMaxBytes must be between 1 and " + MAX_BUFFER_BYTES + ", was " + chunkMaxBytes);
        }
        if (maxLineBytes < 1 || maxLineBytes >= MAX_BUFFER_BYTES) {
            throw new IllegalArgumentException("maxLineBytes must be between 1 and " + (MAX_BUFFER_BYTES - 1) + ", was " + maxLineBytes);
        }
        if (pollInterval == null || pollInterval.isNegative() || pollInterval.isZero()) {
            throw new IllegalArgumentException("pollInterval must be positive, was " + pollInterval);
        }
        if (linger == null || linger.isNegative()) {
            throw new IllegalArgumentException("linger must not be negative, was " + linger);
        }
        if (deadLetterFile == null) {
            deadLetterFile = path.resolveSibling(path.getFileName() + DEAD_LETTER_SUFFIX);
        }
        deadLetterFile = deadLetterFile.toAbsolutePath().normalize();
        if (deadLetterFile.equals(path)) {
            throw new IllegalArgumentException("deadLetterFile must not be the log file itself: " + path);
        }
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("name must not be blank");
        }
    }

    /** The parser to use: {@code parser} when set, else the one of {@code format}. */
    public LineParser lineParser() {
        if (parser != null) {
            return parser;
        }
        return format == Format.DJANGO ? LineParser.django(pkFields) : LineParser.jsonLines();
    }

    /** Starts building options for the log file or directory at {@code path}. */
    public static Builder builder(Path path) {
        return new Builder(path);
    }

    /** Builds {@link OplogFileOptions}; {@link #build()} checks the values. */
    public static final class Builder {
        private final Path path;
        private String glob = DEFAULT_GLOB;
        private Mode mode = DEFAULT_MODE;
        private Format format = DEFAULT_FORMAT;
        private final Map<String, String> pkFields = new LinkedHashMap<>();
        private LineParser parser;
        private int chunkMaxBytes = DEFAULT_CHUNK_MAX_BYTES;
        private int maxLineBytes = DEFAULT_MAX_LINE_BYTES;
        private Duration pollInterval = DEFAULT_POLL_INTERVAL;
        private Duration linger = DEFAULT_LINGER;
        private boolean watchService = DEFAULT_WATCH_SERVICE;
        private Path deadLetterFile;
        private boolean failOnMalformed = DEFAULT_FAIL_ON_MALFORMED;
        private DeadLetterStore deadLetters;
        private String name = DEFAULT_NAME;

        private Builder(Path path) {
            this.path = path;
        }

        /** In directory mode, the file-name pattern to read; default {@code *}. */
        public Builder glob(String glob) {
            this.glob = glob;
            return this;
        }

        /** Snapshot or follow; default follow. */
        public Builder mode(Mode mode) {
            this.mode = mode;
            return this;
        }

        /** The built-in line format; default {@link Format#DJANGO}. */
        public Builder format(Format format) {
            this.format = format;
            return this;
        }

        /** The primary-key field of a Django model; default {@code id}. */
        public Builder pkField(String model, String field) {
            pkFields.put(Objects.requireNonNull(model, "pkField model"), Objects.requireNonNull(field, "pkField field"));
            return this;
        }

        /** A custom line parser, used instead of the built-in {@code format}. */
        public Builder parser(LineParser parser) {
            this.parser = parser;
            return this;
        }

        /** The most bytes of lines per chunk; default 1 MiB. */
        public Builder chunkMaxBytes(int bytes) {
            this.chunkMaxBytes = bytes;
            return this;
        }

        /** Longer lines are malformed; default 1 MiB. */
        public Builder maxLineBytes(int bytes) {
            this.maxLineBytes = bytes;
            return this;
        }

        /** How often follow mode checks the file without a watch event; default 1 s. */
        public Builder pollInterval(Duration interval) {
            this.pollInterval = interval;
            return this;
        }

        /**
         * In follow mode, how long lines may wait for more to join a chunk that is not full: a chunk of
         * less than {@code chunkMaxBytes} is cut at most once per linger; zero cuts one whenever a change
         * is seen. Default 100 ms.
         */
        public Builder linger(Duration linger) {
            this.linger = linger;
            return this;
        }

        /** Whether follow mode uses the JDK watch service besides polling; default true. */
        public Builder watchService(boolean enabled) {
            this.watchService = enabled;
            return this;
        }

        /** Where malformed lines go; default {@code <path>.dead-letter.jsonl} next to the path. */
        public Builder deadLetterFile(Path file) {
            this.deadLetterFile = file;
            return this;
        }

        /** Fail the run on a malformed line instead of dead-lettering it; default false. */
        /** Dead letters to this store (the pipeline's) instead of the dead-letter file. */
        public Builder deadLetters(DeadLetterStore store) {
            this.deadLetters = store;
            return this;
        }

        public Builder failOnMalformed(boolean fail) {
            this.failOnMalformed = fail;
            return this;
        }

        /** The source's name for logs and metrics; default {@code oplog-file}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public OplogFileOptions build() {
            return new OplogFileOptions(path, glob, mode, format, pkFields, parser, chunkMaxBytes, maxLineBytes,
                    pollInterval, linger, watchService, deadLetterFile, failOnMalformed, deadLetters, name);
        }
    }
}
