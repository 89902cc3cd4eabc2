package dev.changepipe.source.oplog;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.Offset;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;

/**
 * What a run knows about one origin (one log file path): its claim token, the identity of each
 * generation read in this run (to write checkpoints for acks of older generations after a rotation),
 * the size last seen and the last checkpoint saved (for the lag gauge). Written by the reader,
 * read by the acknowledging thread: fields are volatile or guarded by "this".
 */
final class FileOrigin {

    /** How many leading bytes of a file identify it besides its file key. */
    static final int HEAD_BYTES = 256;

    static final String ATTR_GENERATION = "generation";
    static final String ATTR_POSITION = "position";
    static final String ATTR_FILE_KEY = "fileKey";
    static final String ATTR_HEAD_LENGTH = "headLength";
    static final String ATTR_HEAD_CRC = "headCrc";
    static final String ATTR_DONE = "done";
    static final String ATTR_PATH = "path";

    final String origin;
    final Path path;
    final long token;
    private final Map<Long, Generation> generations = new ConcurrentHashMap<>();
    volatile long size;
    volatile long currentGeneration;
    private Offset savedOffset;
    private boolean savedDone;
    private volatile long savedGeneration = -1;
    private volatile long savedPosition;

    FileOrigin(String origin, Path path, long token) {
        this.origin = origin;
        this.path = path;
        this.token = token;
    }

    Generation generation(long number, String fileKey) {
        Generation g = new Generation(number, fileKey);
        generations.put(number, g);
        currentGeneration = number;
        return g;
    }

    Generation generation(long number) {
        return generations.get(number);
    }

    /** File size minus the checkpointed position (the whole size when the checkpoint is of an older generation). */
    double lag() {
        long checkpointed = savedGeneration == currentGeneration ? savedPosition : 0;
        return Math.max(0, size - checkpointed);
    }

    synchronized boolean alreadySaved(Offset offset, boolean done) {
        return offset.equals(savedOffset) && done == savedDone;
    }

    synchronized void saved(Offset offset, boolean done) {
        savedOffset = offset;
        savedDone = done;
        savedGeneration = Positions.generation(offset);
        savedPosition = Positions.position(offset);
    }

    /** The checkpoint for a committable offset: generation, position, the file's identity, done. */
    Checkpoint checkpoint(Offset committable, boolean done) {
        long number = Positions.generation(committable);
        long position = Positions.position(committable);
        Generation g = generations.get(number);
        if (g == null) {
            throw new IllegalStateException("origin " + origin + ": acknowledged generation " + number + " was never read");
        }
        int headLength = (int) Math.min(Math.min(HEAD_BYTES, position), g.headLength());
        Map<String, String> attributes = new LinkedHashMap<>();
        attributes.put(ATTR_GENERATION, Long.toString(number));
        attributes.put(ATTR_POSITION, Long.toString(position));
        attributes.put(ATTR_FILE_KEY, g.fileKey);
        attributes.put(ATTR_HEAD_LENGTH, Integer.toString(headLength));
        attributes.put(ATTR_HEAD_CRC, Long.toString(g.crc(headLength)));
        attributes.put(ATTR_DONE, Boolean.toString(done));
        attributes.put(ATTR_PATH, path.toString());
        return new Checkpoint(origin, committable, attributes);
    }

    /** One generation of the file: its file key and its first bytes, as read. */
    static final class Generation {
        final long number;
        final String fileKey;
        private final byte[] head = new byte[HEAD_BYTES];
        private int filled;

        Generation(long number, String fileKey) {
            this.number = number;
            this.fileKey = fileKey;
        }

        /** Records the bytes read at {@code position} that fall into the head. */
        synchronized void noteRead(long position, byte[] data, int length) {
            if (position > filled || position >= HEAD_BYTES) {
                return;
            }
            int n = (int) Math.min(length, HEAD_BYTES - position);
            System.arraycopy(data, 0, head, (int) position, n);
            filled = Math.max(filled, (int) position + n);
        }

        /** How many head bytes are known. */
        synchronized int headLength() {
            return filled;
        }

        /** Whether {@code current} (the file's first {@link #headLength()} bytes now) equals the known head. */
        synchronized boolean headMatches(byte[] current) {
            return current.length >= filled && java.util.Arrays.equals(head, 0, filled, current, 0, filled);
        }

        synchronized long crc(int length) {
            if (length > filled) {
                throw new IllegalStateException("generation " + number + ": head of " + length + " bytes not read yet");
            }
            CRC32 crc = new CRC32();
            crc.update(head, 0, length);
            return crc.getValue();
        }
    }
}
