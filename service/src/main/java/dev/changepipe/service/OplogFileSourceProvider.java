package dev.changepipe.service;

import dev.changepipe.core.Source;
import dev.changepipe.source.oplog.OplogFileOptions;
import dev.changepipe.source.oplog.OplogFileSource;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code type: oplog-file}: the operation-log file source (docs/oplog-file-source.md). Keys:
 * {@code path} (required; a file or a directory, relative to the config file), {@code glob},
 * {@code mode} (follow, snapshot), {@code format} (django, json-lines), {@code pkFields}
 * (model: field), {@code chunkMaxBytes}, {@code maxLineBytes}, {@code pollInterval},
 * {@code watchService}, {@code deadLetterFile}, {@code failOnMalformed}. The source is named after the
 * pipeline (its metric tag {@code source}).
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
                .watchService(s.bool("watchService", OplogFileOptions.DEFAULT_WATCH_SERVICE))
                .failOnMalformed(s.bool("failOnMalformed", OplogFileOptions.DEFAULT_FAIL_ON_MALFORMED));
        for (Map.Entry<String, String> e : s.stringMap("pkFields").entrySet()) {
            b.pkField(e.getKey(), e.getValue());
        }
        s.optionalString("deadLetterFile").ifPresent(f -> b.deadLetterFile(context.baseDirectory().resolve(f)));
        s.checkNoUnknownKeys();
        OplogFileOptions options = Components.build(s, b::build);
        return OplogFileSource.create(options, context.checkpoints(), context.meterRegistry());
    }
}
