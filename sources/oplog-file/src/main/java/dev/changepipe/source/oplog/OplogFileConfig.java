package dev.changepipe.source.oplog;

import dev.changepipe.spi.DataSize;
import dev.changepipe.spi.Key;
import java.time.Duration;
import java.util.Map;

/** The keys of a {@code type: oplog-file} section (docs/options.md is generated from them). */
record OplogFileConfig(
        @Key(value = "a log file, or a directory of log files; relative to the config file", required = true)
        String path,
        @Key("directory mode: the names of the files to read (`glob:` syntax)") String glob,
        @Key("`snapshot` reads what is there and completes; `follow` keeps tailing") OplogFileOptions.Mode mode,
        @Key("the line format") OplogFileOptions.Format format,
        @Key(value = "the pk field of each model (`app.model: field`), for the django format", defaultText = "`id`")
        Map<String, String> pkFields,
        @Key("most bytes of lines per chunk") DataSize chunkMaxBytes,
        @Key("longer lines are dead-lettered") DataSize maxLineBytes,
        @Key("how often the log is looked at when no change event came") Duration pollInterval,
        @Key("follow mode: how long a chunk not yet full waits for more lines") Duration linger,
        @Key("follow mode: react to the file system's change events, not only to polls") Boolean watchService,
        @Key(value = "a dead-letter file of the source's own, relative to the config file",
                defaultText = "none: the pipeline's dead letters, with its sinks'")
        String deadLetterFile,
        @Key("fail the run on a malformed line instead of dead-lettering it") Boolean failOnMalformed,
        @Key("compare the log's final state with the sinks' tables while the pipeline runs, on a schedule (docs/verify.md)")
        dev.changepipe.verify.VerifyConfig verify) {

    OplogFileConfig {
        glob = glob == null ? OplogFileOptions.DEFAULT_GLOB : glob;
        mode = mode == null ? OplogFileOptions.DEFAULT_MODE : mode;
        format = format == null ? OplogFileOptions.DEFAULT_FORMAT : format;
        pkFields = pkFields == null ? Map.of() : pkFields;
        chunkMaxBytes = chunkMaxBytes == null ? DataSize.ofBytes(OplogFileOptions.DEFAULT_CHUNK_MAX_BYTES) : chunkMaxBytes;
        maxLineBytes = maxLineBytes == null ? DataSize.ofBytes(OplogFileOptions.DEFAULT_MAX_LINE_BYTES) : maxLineBytes;
        pollInterval = pollInterval == null ? OplogFileOptions.DEFAULT_POLL_INTERVAL : pollInterval;
        linger = linger == null ? OplogFileOptions.DEFAULT_LINGER : linger;
        watchService = watchService == null ? OplogFileOptions.DEFAULT_WATCH_SERVICE : watchService;
        failOnMalformed = failOnMalformed == null ? OplogFileOptions.DEFAULT_FAIL_ON_MALFORMED : failOnMalformed;
    }
}
