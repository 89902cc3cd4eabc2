package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class OplogFileOptionsTest {

    @Test
    void defaultsAreTheDocumentedConstants() {
        OplogFileOptions o = OplogFileOptions.builder(Path.of("/var/log/app/oplog.log")).build();
        assertThat(o.mode()).isEqualTo(OplogFileOptions.DEFAULT_MODE);
        assertThat(o.chunkMaxBytes()).isEqualTo(OplogFileOptions.DEFAULT_CHUNK_MAX_BYTES);
        assertThat(o.maxLineBytes()).isEqualTo(OplogFileOptions.DEFAULT_MAX_LINE_BYTES);
        assertThat(o.pollInterval()).isEqualTo(OplogFileOptions.DEFAULT_POLL_INTERVAL);
        assertThat(o.linger()).isEqualTo(OplogFileOptions.DEFAULT_LINGER).isEqualTo(Duration.ofMillis(100));
        assertThat(o.deadLetterFile()).isEqualTo(Path.of("/var/log/app/oplog.log.dead-letter.jsonl"));
        assertThat(o.lineParser()).isInstanceOf(DjangoLineParser.class);
    }

    @Test
    void invalidValuesAreRefusedNamingTheOption() {
        Path p = Path.of("/tmp/x.log");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).chunkMaxBytes(0).build()).hasMessageStartingWith("chunkMaxBytes");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).maxLineBytes(0).build()).hasMessageStartingWith("maxLineBytes");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).pollInterval(Duration.ZERO).build()).hasMessageStartingWith("pollInterval");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).linger(Duration.ofMillis(-1)).build()).hasMessageStartingWith("linger");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).glob(" ").build()).hasMessageStartingWith("glob");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).name("").build()).hasMessageStartingWith("name");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).deadLetterFile(p).build()).hasMessageStartingWith("deadLetterFile");
        assertThatThrownBy(() -> OplogFileOptions.builder(p).pkField("a.b", " ").build()).hasMessageStartingWith("pkFields");
    }
}
