package dev.changepipe.source.oplog;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
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
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dead-letter file: one JSON object per malformed line (or rejected change of a line), with
 * origin, generation, offset, index, reason and the raw text. Appends are serialized (parse threads
 * call it concurrently); {@link #force()} makes them durable, and the source forces before a chunk's
 * parse completes, so a dead letter is on disk before its chunk can be acknowledged. Opened on first
 * use, closed by {@link #close()}.
 *
 * <p><b>One record per bad input.</b> A line is read again after a restart (its chunk was not
 * acknowledged yet) and gives the same dead letter again. When the file is opened, the identity
 * (origin, generation, offset, index) of every letter already in it is loaded, as a 64-bit hash, and
 * a letter whose identity is there is not written again; an unterminated last record (torn by a
 * crash during its write) is cut off first. The file must belong to one source.
 *
 * <p><b>Or the pipeline's store.</b> Given a {@link DeadLetterStore} (the service gives its pipeline's),
 * the letters go there instead, buffered until {@link #force()} appends them in one durable write: a
 * pipeline keeps its source's and its sinks' letters in one place. A letter's position is the line's
 * version ({@code generation << 40 | offset}), its key {@code element N} for one change of a line.
 */
final class DeadLetters {

    private static final Logger log = LoggerFactory.getLogger(DeadLetters.class);

    private final Path file;
    private final DeadLetterStore store;
    private final List<DeadLetter> pending = new ArrayList<>();
    private final Counter counter;
    private FileChannel channel;
    private LongSet written;

    DeadLetters(Path file, Counter counter) {
        this(file, null, counter);
    }

    /** Letters to {@code store} when it is not null (then {@code file} is not used), else to the file. */
    DeadLetters(Path file, DeadLetterStore store, Counter counter) {
        this.file = file;
        this.store = store;
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
        if (store != null) {
            String text = strictUtf8(raw, start, length);
            DeadLetter letter = new DeadLetter(store.pipeline(), null, origin, Positions.offset(generation, offset, false).value(),
                    null, index >= 0 ? "element " + index : null, index >= 0 ? "invalid-change" : "malformed",
                    reason + (length < lineLength ? " (line of " + lineLength + " bytes, first " + length + " kept)" : ""),
                    text != null ? text : new String(raw, start, length, StandardCharsets.UTF_8));
            synchronized (this) {
                pending.add(letter);
            }
            return;
        }
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
                    open();
                }
                if (!written.add(identity(origin, generation, offset, index))) {
                    log.debug("dead letter {}:{} (generation {}, index {}) is already in {}; not written again",
                            origin, offset, generation, index, file);
                    return;
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

    /** Opens the file for appending, loading the identities of the letters in it. */
    private void open() throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        try {
            LongSet identities = new LongSet();
            long complete = load(ch, identities);
            if (complete < ch.size()) {
                log.warn("dead-letter file {}: cutting off an unterminated last record of {} bytes (torn by a crash)",
                        file, ch.size() - complete);
                ch.truncate(complete);
                ch.force(false);
            }
            ch.position(complete);
            channel = ch;
            written = identities;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Adds the identity of every letter in the file; returns the length of its complete lines. */
    private long load(FileChannel ch, LongSet identities) throws IOException {
        long size = ch.size();
        long lineStart = 0;
        long at = 0;
        int unreadable = 0;
        ByteArrayOutputStream line = new ByteArrayOutputStream(512);
        ByteBuffer buffer = ByteBuffer.allocate(64 << 10);
        while (at < size) {
            buffer.clear();
            int n = ch.read(buffer, at);
            if (n <= 0) {
                break;
            }
            byte[] bytes = buffer.array();
            int from = 0;
            for (int i = 0; i < n; i++) {
                if (bytes[i] == '\n') {
                    line.write(bytes, from, i - from);
                    if (!addIdentity(line.toByteArray(), identities)) {
                        unreadable++;
                    }
                    line.reset();
                    from = i + 1;
                    lineStart = at + i + 1;
                }
            }
            line.write(bytes, from, n - from);
            at += n;
        }
        if (unreadable > 0) {
            log.warn("dead-letter file {}: {} lines are not dead letters of this source's format; left as they are",
                    file, unreadable);
        }
        return lineStart;
    }

    private static boolean addIdentity(byte[] line, LongSet identities) {
        if (line.length == 0) {
            return true;
        }
        try {
            com.fasterxml.jackson.databind.JsonNode letter = Json.MAPPER.readTree(line);
            if (letter == null || !letter.hasNonNull("origin") || !letter.hasNonNull("offset")) {
                return false;
            }
            identities.add(identity(letter.get("origin").asText(), letter.path("generation").asLong(),
                    letter.get("offset").asLong(), letter.hasNonNull("index") ? letter.get("index").asInt() : -1));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A 64-bit hash of a dead letter's identity: collisions are negligible for any real number of letters. */
    static long identity(String origin, long generation, long offset, int index) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < origin.length(); i++) {
            h = (h ^ origin.charAt(i)) * 0x100000001b3L;
        }
        h = mix(h ^ generation);
        h = mix(h ^ offset);
        return mix(h ^ (index + 1L));
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** An open-addressing set of longs: 8 to 16 bytes per identity, however many letters the file holds. */
    static final class LongSet {
        private long[] slots = new long[64];
        private boolean hasZero;
        private int size;

        /** Adds {@code v}; returns false if it was there. */
        boolean add(long v) {
            if (v == 0) {
                boolean added = !hasZero;
                hasZero = true;
                return added;
            }
            if ((size + 1) * 2 > slots.length) {
                grow();
            }
            int mask = slots.length - 1;
            int i = (int) mix(v) & mask;
            while (slots[i] != 0) {
                if (slots[i] == v) {
                    return false;
                }
                i = (i + 1) & mask;
            }
            slots[i] = v;
            size++;
            return true;
        }

        private void grow() {
            long[] old = slots;
            slots = new long[old.length * 2];
            size = 0;
            for (long v : old) {
                if (v != 0) {
                    add(v);
                }
            }
        }
    }

    /** Forces what was written to disk. */
    synchronized void force() {
        if (store != null) {
            if (!pending.isEmpty()) {
                int added = store.append(List.copyOf(pending));
                pending.clear();
                counter.increment(added);
            }
            return;
        }
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
        if (store != null) {
            pending.clear(); // letters not forced belong to chunks never acknowledged: read again
            return;
        }
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
            written = null;
        }
    }

    /** The bytes as a string if they are valid UTF-8, else {@code null}. */
    static String strictUtf8(byte[] bytes, int start, int length) {
        if (Bytes.isAscii(bytes, start, length)) {
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
}
