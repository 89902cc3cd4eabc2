package dev.changepipe.source.storage;

import java.util.Objects;

/**
 * An operation as fetched from a storage, with the score it had when it was fetched. The score is
 * what lets {@link OperationsStorage#postSync} remove exactly what was fetched: an operation
 * registered again after the fetch has a different score and stays queued.
 *
 * <p>A storage may also keep the member and the score exactly as it stored them (the member text,
 * the score's text as Redis printed it), so that {@code postSync} names the very member it fetched
 * (a django-clickhouse member without an alias, {@code "update:42"}, is removed as such) and does not
 * print the score again. Equality is by operation and score only.
 */
public final class StoredOperation {

    private final Operation operation;
    private final double score;
    private final String member;
    private final String scoreText;

    /**
     * @param operation the operation
     * @param score its registration time in seconds since the epoch (django-clickhouse's score), as
     *     stored; compared exactly, never rounded
     */
    public StoredOperation(Operation operation, double score) {
        this(operation, score, null, null);
    }

    /** With the member and the score's text as the storage holds them ({@code null}: derived). */
    StoredOperation(Operation operation, double score, String member, String scoreText) {
        this.operation = Objects.requireNonNull(operation, "operation");
        this.score = score;
        this.member = member;
        this.scoreText = scoreText;
    }

    /** The operation. */
    public Operation operation() {
        return operation;
    }

    /** Its registration time in seconds since the epoch, as stored. */
    public double score() {
        return score;
    }

    /** The member as stored, for the removal. */
    String member() {
        return member != null ? member : operation.member();
    }

    /** The score as text that parses back to exactly {@link #score()}. */
    String scoreText() {
        return scoreText != null ? scoreText : Double.toString(score);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof StoredOperation other && operation.equals(other.operation)
                && Double.compare(score, other.score) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * operation.hashCode() + Double.hashCode(score);
    }

    @Override
    public String toString() {
        return "StoredOperation[operation=" + operation + ", score=" + score + "]";
    }
}
