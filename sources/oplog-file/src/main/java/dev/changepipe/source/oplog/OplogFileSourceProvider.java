package dev.changepipe.source.oplog;

import dev.changepipe.core.Source;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import dev.changepipe.spi.WritablePaths;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code type: oplog-file}: the operation-log file source (docs/oplog-file-source.md). Keys:
 * {@code path} (required; a file or a directory, relative to the config file), {@code glob},
 * {@code mode} (follow, snapshot), {@code format} (django, json-lines), {@code pkFields}
 * (model: field), {@code chunkMaxBytes}, {@code maxLineBytes}, {@code pollInterval}, {@code linger},
 * {@code watchService}, {@code deadLetterFile}, {@code failOnMalformed}. The source is named after the
 * pipeline (its metric tag {@code source}). The log must exist (in follow mode, its directory), and
 * the dead-letter file (by default next to the log, {@code <path>.dead-letter.jsonl}) must be a writable file or creatable.
 */
public final class OplogFileSourceProvider implements SourceProvider {

    @Override
    public String type() {
        return "oplog-file";
    }

    @Override
    public Source create(Settings s, ServiceContext context) {
        Path path = context.baseDirectory().resolve(s.string("path"));
        OplogFileOptions.Builder b = OplogFileOptions.builder(path)
                .name(context.pipelineName())
                .glob(s.string("glob", OplogFileOptions.DEFAULT_GLOB))
                .mode(s.choice("mode", OplogFileOptions.Mode.class, OplogFileOptions.DEFAULT_MODE))
                .format(s.choice("format", OplogFileOptions.Format.class, OplogFileOptions.DEFAULT_FORMAT))
                .chunkMaxBytes((int) Math.min(Integer.MAX_VALUE - 64, s.bytes("chunkMaxBytes", OplogFileOptions.DEFAULT_CHUNK_MAX_BYTES)))
                .maxLineBytes((int) Math.min(Integer.MAX_VALUE - 64, s.bytes("maxLineBytes", OplogFileOptions.DEFAULT_MAX_LINE_BYTES)))
                .pollInterval(s.duration("pollInterval", OplogFileOptions.DEFAULT_POLL_INTERVAL))
                .linger(s.duration("linger", OplogFileOptions.DEFAULT_LINGER))
                .watchService(s.bool("watchService", OplogFileOptions.DEFAULT_WATCH_SERVICE))
                .failOnMalformed(s.bool("failOnMalformed", OplogFileOptions.DEFAULT_FAIL_ON_MALFORMED));
        for (Map.Entry<String, String> e : s.stringMap("pkFields").entrySet()) {
            b.pkField(e.getKey(), e.getValue());
        }
        // without a file of its own, the source's letters go to the pipeline's store, with its sinks'
        s.optionalString("deadLetterFile").ifPresentOrElse(f -> b.deadLetterFile(context.baseDirectory().resolve(f)),
                () -> b.deadLetters(context.deadLetters()));
        s.checkNoUnknownKeys();
        OplogFileOptions options = s.build(b::build);
        checkPaths(s, options);
        return OplogFileSource.create(options, context.checkpoints(), context.meterRegistry());
    }

    /**
     * The log must be there (in follow mode, its directory: the file may come later), and the
     * dead-letter file must be writable; each error names its key.
     */
    private static void checkPaths(Settings s, OplogFileOptions options) {
        Path path = options.path().toAbsolutePath().normalize();
        if (options.mode() == OplogFileOptions.Mode.SNAPSHOT || java.nio.file.Files.exists(path)) {
            WritablePaths.exists(s.pathOf("path"), path, "a log file or a directory of log files");
        } else {
            Path parent = path.getParent();
            if (parent == null || !java.nio.file.Files.isDirectory(parent)) {
                throw new ConfigException(s.pathOf("path"), path + " does not exist, nor does its directory " + parent
                        + "; expected a log file or a directory of log files (in follow mode, at least its directory)");
            }
        }
        String key = s.has("deadLetterFile") ? s.pathOf("deadLetterFile") : s.pathOf("path");
        try {
            WritablePaths.file(key, options.deadLetterFile());
        } catch (ConfigException e) {
            if (s.has("deadLetterFile")) {
                throw e;
            }
            throw new ConfigException(key, "the default dead-letter file next to the log: "
                    + e.problems().get(0).message() + " (set deadLetterFile)");
        }
    }
}
