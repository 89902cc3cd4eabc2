package dev.changepipe.sink.redis;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;

/**
 * A unique constraint of a model: one field ({@code email}) or several together
 * ({@code question}, {@code position}). Immutable.
 *
 * <p>The fields are kept sorted by name: a constraint is a set of fields, and the index key it makes
 * lists them in that order whatever order they were declared in, so that a lookup does not need to
 * know the declaration.
 *
 * @param fields the field names, sorted, at least one, no duplicates, none empty
 */
public record UniqueConstraint(List<String> fields) {

    public UniqueConstraint {
        Objects.requireNonNull(fields, "fields");
        if (fields.isEmpty()) {
            throw new IllegalArgumentException("a unique constraint needs at least one field");
        }
        TreeSet<String> sorted = new TreeSet<>();
        for (String field : fields) {
            if (field == null || field.isEmpty()) {
                throw new IllegalArgumentException("unique constraint " + fields + ": field names must not be null or empty");
            }
            if (!sorted.add(field)) {
                throw new IllegalArgumentException("unique constraint " + fields + ": field " + field + " given twice");
            }
        }
        fields = Collections.unmodifiableList(new ArrayList<>(sorted));
    }

    /** A constraint on these fields (in any order). */
    public static UniqueConstraint of(String... fields) {
        return new UniqueConstraint(List.of(fields));
    }

    /** Whether the constraint is on more than one field. */
    public boolean isComposite() {
        return fields.size() > 1;
    }
}
