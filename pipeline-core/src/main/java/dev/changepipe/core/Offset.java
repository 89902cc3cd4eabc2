package dev.changepipe.core;

/**
 * A position inside one origin: a byte offset in a file, a batch sequence number of an import key,
 * an LSN of a replication slot. Offsets of one origin are unique and strictly increase in the order
 * the source emits its chunks; offsets of different origins are never compared.
 *
 * @param value the position; its meaning belongs to the source that made it
 */
public record Offset(long value) implements Comparable<Offset> {

    /** Returns the offset with the given value. */
    public static Offset of(long value) {
        return new Offset(value);
    }

    @Override
    public int compareTo(Offset other) {
        return Long.compare(value, other.value);
    }

    // equals and hashCode written out: a record's generated ones are bootstrapped through method
    // handles, which made the JVM spin a dozen classes at the first comparison of offsets

    @Override
    public boolean equals(Object o) {
        return o instanceof Offset other && other.value == value;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(value);
    }

    @Override
    public String toString() {
        return Long.toString(value);
    }
}
