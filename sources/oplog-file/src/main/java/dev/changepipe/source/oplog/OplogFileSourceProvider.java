package dev.changepipe.source.oplog;

import dev.changepipe.core.Source;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import dev.changepipe.spi.WritablePaths;
import java.nio.file.Path;

/**
 * {@code type: oplog-file}: the operation-log file source (docs/oplog-file-source.md); its keys are
 * {@link OplogFileConfig}'s. The source is named after the pipeline (its metric tag {@code source}).
 * The log must exist (in follow mode, its directory), and the dead-letter file (the section's, or by
 * default {@code <path>.dead-letter.jsonl}) must be a writable file or creatable.
 */
public final class OplogFileSourceProvider implements SourceProvider {

    @Override
    public String type() {
        return "oplog-file";
    }

    @Override
    public Class<OplogFileConfig> options() {
        return OplogFileConfig.class;
    }

    @Override
    public Source create(Settings s, ServiceContext context) {
        OplogFileConfig c = s.bind(OplogFileConfig.class);
        OplogFileOptions.Builder b = OplogFileOptions.builder(context.baseDirectory().resolve(c.path()))
                .name(context.pipelineName())
                .glob(c.glob())
                .mode(c.mode())
                .format(c.format())
                .chunkMaxBytes(c.chunkMaxBytes().bytesAtMost(OplogFileOptions.MAX_BUFFER_BYTES))
                .maxLineBytes(c.maxLineBytes().bytesAtMost(OplogFileOptions.MAX_BUFFER_BYTES))
                .pollInterval(c.pollInterval())
                .linger(c.linger())
                .watchService(c.watchService())
                .failOnMalformed(c.failOnMalformed());
        c.pkFields().forEach(b::pkField);
        // without a file of its own, the source's letters go to the pipeline's store, with its sinks'
        if (c.deadLetterFile() != null) {
            b.deadLetterFile(context.baseDirectory().resolve(c.deadLetterFile()));
        } else {
            b.deadLetters(context.deadLetters());
        }
        OplogFileOptions options = s.build(b::build);
        checkPaths(s, options, c.deadLetterFile() != null);
        return OplogFileSource.create(options, context.checkpoints(), context.meterRegistry());
    }

    /**
     * The log must be there (in follow mode, its directory: the file may come later), and the
     * dead-letter file must be writable; each error names its key.
     */
    private static void checkPaths(Settings s, OplogFileOptions options, boolean ownDeadLetterFile) {
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
        String key = ownDeadLetterFile ? s.pathOf("deadLetterFile") : s.pathOf("path");
        try {
            WritablePaths.file(key, options.deadLetterFile());
        } catch (ConfigException e) {
            if (ownDeadLetterFile) {
                throw e;
            }
            throw new ConfigException(key, "the default dead-letter file next to the log: "
                    + e.problems().get(0).message() + " (set deadLetterFile)");
        }
    }
}
