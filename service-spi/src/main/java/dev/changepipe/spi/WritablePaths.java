package dev.changepipe.spi;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks, before a pipeline runs, that the places it will write to can be written: a directory that
 * exists or can be created, a file that exists or can be created. Each failure is a
 * {@link ConfigException} naming the configuration key. Nothing is left behind: writability is
 * probed by creating and deleting a temporary file in the nearest existing directory (a permission
 * bit says nothing of a read-only mount, {@code /proc} or a root user). For a provider's
 * {@code create}: a problem found before the run starts is a configuration error with its path.
 */
public final class WritablePaths {

    private WritablePaths() {
    }

    /** {@code dir} is a writable directory, or one that can be created. */
    public static void directory(String key, Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        if (Files.exists(d) && !Files.isDirectory(d)) {
            throw new ConfigException(key, d + " exists and is not a directory; expected a directory (or a path where one can be created)");
        }
        probe(key, nearestExisting(key, d), d);
    }

    /** {@code file} is a writable regular file, or one that can be created (its directory is checked too). */
    public static void file(String key, Path file) {
        Path f = file.toAbsolutePath().normalize();
        if (Files.isDirectory(f)) {
            throw new ConfigException(key, f + " is a directory; expected a file");
        }
        if (Files.exists(f)) {
            if (!Files.isRegularFile(f)) {
                throw new ConfigException(key, f + " is not a regular file; expected a file");
            }
            try (var ignored = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE,
                    java.nio.file.StandardOpenOption.APPEND)) {
                return;
            } catch (IOException e) {
                throw new ConfigException(key, "cannot write " + f + ": " + reason(e));
            }
        }
        Path parent = f.getParent();
        if (parent != null) {
            directory(key, parent);
        }
    }

    /** The path exists (a file or a directory). */
    public static void exists(String key, Path path, String expected) {
        if (!Files.exists(path)) {
            throw new ConfigException(key, path.toAbsolutePath().normalize() + " does not exist; expected " + expected);
        }
    }

    private static Path nearestExisting(String key, Path d) {
        Path p = d;
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        if (p == null) {
            throw new ConfigException(key, "no part of " + d + " exists");
        }
        if (!Files.isDirectory(p)) {
            throw new ConfigException(key, p + " is not a directory, so " + d + " cannot be created");
        }
        return p;
    }

    private static void probe(String key, Path existing, Path wanted) {
        try {
            Path probe = Files.createTempFile(existing, ".changepipe-probe-", ".tmp");
            Files.delete(probe);
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            throw new ConfigException(key, (existing.equals(wanted) ? "cannot write in " + wanted
                    : "cannot create " + wanted + ": cannot write in " + existing) + " (" + reason(e) + ")");
        }
    }

    private static String reason(Exception e) {
        return e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null
                ? fs.getReason() : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }
}
