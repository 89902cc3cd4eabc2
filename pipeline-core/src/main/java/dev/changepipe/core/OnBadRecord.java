package dev.changepipe.core;

/** What a sink does with a record it refuses for a reason of the record's own (DESIGN.md section 8a). */
public enum OnBadRecord {
    /** Store it in the pipeline's {@link DeadLetterStore} and write the rest (the default). */
    DEAD_LETTER,
    /** Fail the write, which stops the pipeline at that record. */
    FAIL
}
