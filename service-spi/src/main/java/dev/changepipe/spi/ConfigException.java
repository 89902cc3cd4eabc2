package dev.changepipe.spi;

import java.util.List;

/**
 * A configuration that cannot be used. Every problem names the path of the bad key
 * ({@code pipelines[0].sinks[1].connection}) and says what was expected. Never retryable.
 */
public final class ConfigException extends RuntimeException {

    /**
     * One problem of a configuration.
     *
     * @param path where in the file: dotted keys and {@code [index]} for list elements
     * @param message what is wrong and what was expected
     */
    public record Problem(String path, String message) {

        @Override
        public String toString() {
            return (path.isEmpty() ? "(top level)" : path) + ": " + message;
        }
    }

    private final List<Problem> problems;

    public ConfigException(String path, String message) {
        this(List.of(new Problem(path, message)));
    }

    public ConfigException(List<Problem> problems) {
        super(describe(problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    /** Every problem found, in file order where known. */
    public List<Problem> problems() {
        return problems;
    }

    private static String describe(List<Problem> problems) {
        StringBuilder b = new StringBuilder("invalid configuration");
        for (Problem p : problems) {
            b.append("\n  ").append(p);
        }
        return b.toString();
    }
}
