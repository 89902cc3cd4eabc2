package dev.changepipe.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * A {@link CheckpointStore} that keeps one small file per origin in a directory.
 *
 * <p>A save writes a temporary file in the same directory, forces it to disk, renames it atomically
 * over the old file and forces the directory, so a crash at any point leaves either the old or the
 * new checkpoint. Leftover temporary files of a crashed save are ignored and removed by the next save.
 * The file name is derived from the origin (readable part plus a hash), so any origin string is safe.
 *
 * <p>Only one process should use a directory at a time; within the process, operations are
 * serialized.
 */
public final class FileCheckpointStore implements CheckpointStore {

    private static final String SUFFIX = ".checkpoint";
    private static final String TEMP_PREFIX = ".tmp-";

    private final Path directory;
    private final Object lock = new Object();

    private FileCheckpointStore(Path directory) {
        this.directory = directory;
    }

    /** A store in {@code directory}, which is created when missing. */
    public static FileCheckpointStore open(Path directory) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new PipelineException("cannot create checkpoint directory " + directory + ": " + e.getMessage(), e);
        }
        return new FileCheckpointStore(directory);
    }

    public Path directory() {
        return directory;
    }

    @Override
    public Mono<Long> claim(String origin) {
        return io(() -> {
            synchronized (lock) {
                Stored stored = read(fileOf(origin));
                long token = (stored == null ? 0 : stored.token) + 1;
                write(origin, new Stored(stored == null ? null : stored.checkpoint, token));
                return token;
            }
        });
    }

    @Override
    public Mono<Checkpoint> load(String origin) {
        return io(() -> {
            Stored stored = read(fileOf(origin));
            return stored == null ? null : stored.checkpoint;
        });
    }

    @Override
    public Mono<Void> save(Checkpoint checkpoint, long token) {
        return io(() -> {
            synchronized (lock) {
                Stored stored = read(fileOf(checkpoint.origin()));
                long newest = stored == null ? 0 : stored.token;
                if (token != newest) {
                    throw new StaleClaimException(checkpoint.origin(), token, newest);
                }
                write(checkpoint.origin(), new Stored(checkpoint, token));
                return null;
            }
        }).then();
    }

    @Override
    public Flux<Checkpoint> loadAll() {
        return io(() -> {
            List<Checkpoint> all = new ArrayList<>();
            try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "*" + SUFFIX)) {
                for (Path file : files) {
                    if (file.getFileName().toString().startsWith(TEMP_PREFIX)) {
                        continue;
                    }
                    Stored stored = read(file);
                    if (stored != null && stored.checkpoint != null) {
                        all.add(stored.checkpoint);
                    }
                }
            }
            return all;
        }).flatMapIterable(list -> list);
    }

    @Override
    public Mono<Void> delete(String origin) {
        return io(() -> {
            synchronized (lock) {
                Stored stored = read(fileOf(origin));
                if (stored != null) {
                    // Keep the token so that an old claim stays stale after a reset.
                    write(origin, new Stored(null, stored.token));
                }
                return null;
            }
        }).then();
    }

    private record Stored(Checkpoint checkpoint, long token) {
    }

    private Stored read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return null;
        }
        Properties p = new Properties();
        p.load(new java.io.StringReader(new String(bytes, StandardCharsets.UTF_8)));
        String origin = p.getProperty("origin");
        String token = p.getProperty("token");
        if (origin == null || token == null) {
            throw new PipelineException("checkpoint file " + file + " is damaged: no origin or token");
        }
        String offset = p.getProperty("offset");
        try {
            Checkpoint checkpoint = null;
            if (offset != null) {
                Map<String, String> attributes = new LinkedHashMap<>();
                for (String name : p.stringPropertyNames()) {
                    if (name.startsWith("attr.")) {
                        attributes.put(name.substring(5), p.getProperty(name));
                    }
                }
                checkpoint = new Checkpoint(origin, Offset.of(Long.parseLong(offset)), attributes);
            }
            return new Stored(checkpoint, Long.parseLong(token));
        } catch (NumberFormatException e) {
            throw new PipelineException("checkpoint file " + file + " is damaged: " + e.getMessage(), e);
        }
    }

    private void write(String origin, Stored stored) throws IOException {
        Properties p = new Properties();
        p.setProperty("origin", origin);
        p.setProperty("token", Long.toString(stored.token));
        if (stored.checkpoint != null) {
            p.setProperty("offset", Long.toString(stored.checkpoint.offset().value()));
            stored.checkpoint.attributes().forEach((k, v) -> p.setProperty("attr." + k, v));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        p.store(out, null);
        Path target = fileOf(origin);
        removeLeftovers(target);
        Path temp = directory.resolve(TEMP_PREFIX + ThreadLocalRandom.current().nextLong(Long.MAX_VALUE) + "-"
                + target.getFileName());
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.wrap(out.toByteArray());
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            channel.force(true);
        }
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.deleteIfExists(temp);
            throw new PipelineException("checkpoint directory " + directory + " does not support atomic rename", e);
        }
        forceDirectory();
    }

    private void removeLeftovers(Path target) throws IOException {
        try (DirectoryStream<Path> temps = Files.newDirectoryStream(directory,
                TEMP_PREFIX + "*-" + target.getFileName())) {
            for (Path temp : temps) {
                Files.deleteIfExists(temp);
            }
        }
    }

    private void forceDirectory() {
        try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException e) {
            // Some platforms cannot open a directory for syncing; the rename itself is atomic there.
        }
    }

    Path fileOf(String origin) {
        String readable = origin.replaceAll("[^A-Za-z0-9._-]", "_");
        if (readable.length() > 80) {
            readable = readable.substring(readable.length() - 80);
        }
        return directory.resolve(readable + "-" + hash(origin) + SUFFIX);
    }

    private static String hash(String origin) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(origin.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private <T> Mono<T> io(Callable<T> work) {
        return Mono.fromCallable(() -> {
            try {
                return work.call();
            } catch (PipelineException e) {
                throw e;
            } catch (IOException | UncheckedIOException | IllegalArgumentException e) {
                throw new PipelineException("checkpoint store " + directory + ": " + e.getMessage(), e, e instanceof IOException);
            }
        }).subscribeOn(Schedulers.boundedElastic());
    }

}
