package dev.changepipe.core;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Child process of {@link FileCheckpointStoreTest#survivesACrashMidWrite()}: claims the origin,
 * continues from its checkpoint and saves ever higher offsets, printing each one once its save
 * completed, until killed.
 */
public final class CheckpointWriterMain {

    private CheckpointWriterMain() {
    }

    public static void main(String[] args) {
        FileCheckpointStore store = FileCheckpointStore.open(Path.of(args[0]));
        long token = store.claim("crash-test").block(Duration.ofSeconds(10));
        Checkpoint last = store.load("crash-test").block(Duration.ofSeconds(10));
        long offset = last == null ? 0 : last.offset().value();
        while (true) {
            offset++;
            store.save(new Checkpoint("crash-test", Offset.of(offset), Map.of("check", Long.toString(offset * 7))), token)
                    .block(Duration.ofSeconds(10));
            System.out.println(offset);
            System.out.flush();
        }
    }
}
