package dev.changepipe.source.oplog;

import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.Source;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import dev.changepipe.spi.WritablePaths;
import dev.changepipe.verify.ScheduledVerify;
import dev.changepipe.verify.SourceRows;
import dev.changepipe.verify.TableVerification;
import dev.changepipe.verify.VerifyConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

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
        OplogFileOptions options = options(s, c, context);
        checkPaths(s, options, c.deadLetterFile() != null);
        OplogFileSource source = OplogFileSource.create(options, context.checkpoints(), context.meterRegistry());
        // runs on a schedule with `verify:`, and on request (POST /api/pipelines/<name>/verify) always
        ScheduledVerify verify = new ScheduledVerify(() -> truth(options, context.checkpoints()), context,
                c.verify() != null ? c.verify() : VerifyConfig.ON_REQUEST, null);
        if (c.verify() != null && c.verify().readiness()) {
            context.readinessProbe("verify of pipeline " + context.pipelineName(), verify.probe());
        }
        source.verifyWith(verify, c.verify() != null);
        return source;
    }

    /** The log's final state up to the checkpoints, read when a verify starts, as what it compares. */
    static ScheduledVerify.Truth truth(OplogFileOptions options, CheckpointStore checkpoints) throws IOException {
        LogState log = LogState.scan(options, checkpoints);
        return new ScheduledVerify.Truth() {
            @Override
            public List<TableVerification.Table> tables() {
                return log.tables().stream().map(t -> new TableVerification.Table("table", t, t, t, null)).toList();
            }

            @Override
            public SourceRows rows(TableVerification.Table table) {
                return new LogRows(log, table.model());
            }

            @Override
            public void close() {
                log.close();
            }
        };
    }

    @Override
    public List<CliCommand> commands() {
        return List.of(new VerifyCommand());
    }

    /** The source's options from its section. */
    static OplogFileOptions options(Settings s, OplogFileConfig c, ServiceContext context) {
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
        return s.build(b::build);
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
