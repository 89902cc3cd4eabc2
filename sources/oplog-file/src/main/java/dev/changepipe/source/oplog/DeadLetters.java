package dev.changepipe.source.oplog;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.changepipe.core.PipelineException;
import io.micrometer.core.instrument.Counter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Base64;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dead-letter file: one JSON object per malformed line (or rejected change of a line), with
 * origin, generation, offset, index, reason and the raw text. Appends are serialized (parse threads call it concurrently); {@link #force()} makes them
 * durable, and the source forces before a chunk's parse completes, so a dead letter is on disk before
 * its chunk can be acknowledged. Opened on first use, closed by {@link #close()}.
 */
final class DeadLetters {

    private static final Logger log = LoggerFactory.getLogger(DeadLetters.class);

    private final Path file;
    private final Counter counter;
    private FileChannel channel;

    DeadLetters(Path file, Counter counter) {
        this.file = file;
        this.counter = counter;
    }

    Path file() {
        return file;
    }

    /**
     * Appends one dead letter.
     *
     * @param index the index of the bad change within the line, or -1 when the whole line is bad
     * @param raw the line's bytes (possibly truncated to what the source kept)
     * @param lineLength the line's full length in bytes
     */
    void write(String origin, long generation, long offset, int index, String reason, byte[] raw, int start,
            int length, long lineLength) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(length + 256);
        try (JsonGenerator g = Json.MAPPER.getFactory().createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("origin", origin);
            g.writeNumberField("offset", offset);
            g.writeNumberField("generation", generation);
            if (index >= 0) {
                g.writeNumberField("index", index);
            }
            g.writeStringField("reason", reason);
            g.writeNumberField("length", lineLength);
            g.writeBooleanField("truncated", length < lineLength);
            String text = strictUtf8(raw, start, length);
            if (text != null) {
                g.writeStringField("raw", text);
            } else {
                g.writeStringField("raw", new String(raw, start, length, StandardCharsets.UTF_8));
                g.writeStringField("rawBase64", Base64.getEncoder().encodeToString(
                        java.util.Arrays.copyOfRange(raw, start, start + length)));
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new PipelineException("cannot encode dead letter of " + origin + ":" + offset, e);
        }
        out.write('\n');
        synchronized (this) {
            try {
                if (channel == null) {
                    Files.createDirectories(file.toAbsolutePath().getParent());
                    channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                            StandardOpenOption.APPEND);
                }
                ByteBuffer buffer = ByteBuffer.wrap(out.toByteArray());
                while (buffer.hasRemaining()) {
                    channel.write(buffer);
                }
            } catch (IOException e) {
                throw new PipelineException("cannot write dead-letter file " + file + ": " + e.getMessage(), e, true);
            }
        }
        counter.increment();
        log.warn("dead letter: {}:{} {} ({} bytes) -> {}", origin, offset, reason, lineLength, file);
    }

    /** Forces what was written to disk. */
    synchronized void force() {
        if (channel == null) {
            return;
        }
        try {
            channel.force(false);
        } catch (IOException e) {
            throw new PipelineException("cannot force dead-letter file " + file + ": " + e.getMessage(), e, true);
        }
    }

    synchronized void close() {
        if (channel == null) {
            return;
        }
        try {
            channel.force(false);
            channel.close();
        } catch (IOException e) {
            log.warn("closing dead-letter file {} failed: {}", file, e.toString());
        } finally {
            channel = null;
        }
    }

    /** The bytes as a string if they are valid UTF-8, else {@code null}. */
    static String strictUtf8(byte[] bytes, int start, int length) {
        if (isAscii(bytes, start, length)) {
            return new String(bytes, start, length, StandardCharsets.ISO_8859_1);
        }
        try {
            CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, start, length));
            return chars.toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    static boolean isAscii(byte[] bytes, int start, int length) {
        for (int i = start, end = start + length; i < end; i++) {
            if (bytes[i] < 0) {
                return false;
            }
        }
        return true;
    }
}
