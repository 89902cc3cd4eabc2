package dev.changepipe.spi;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * One key of a configuration section: a component of the record a section binds to
 * ({@link Settings#bind}). The record is the key registry of its connector: {@link Settings#bind}
 * checks what this annotation declares, and the service generates docs/options.md from it.
 *
 * <pre>{@code
 * public record CountingOptions(
 *         @Key(value = "rows to emit", min = 1) Long rows,
 *         @Key("pause between rows") Duration pause) {
 *     public CountingOptions {
 *         rows = rows == null ? 1000L : rows;       // the default: what an absent key means
 *         pause = pause == null ? Duration.ofMillis(10) : pause;
 *     }
 * }
 * }</pre>
 *
 * <p>Components are boxed ({@code Integer}, {@code Long}, {@code Boolean}): an absent key binds to
 * {@code null}, and the record's compact constructor puts the default in its place (the docs show
 * what the constructor makes of nothing). The types a key may have: {@code String}, {@code Integer},
 * {@code Long}, {@code Boolean}, an enumeration (matched case-insensitively, {@code -} for {@code _}),
 * {@link java.time.Duration} ({@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code PT1M}),
 * {@link DataSize} ({@code 64MiB}), and lists and mappings ({@code Map<String, ...>}) of those or of
 * further such records.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.RECORD_COMPONENT, ElementType.FIELD, ElementType.PARAMETER})
public @interface Key {

    /** What the key means, for the option tables of docs/. */
    String value();

    /** Whether the key must be given (an empty string, list or mapping counts as not given). */
    boolean required() default false;

    /** The smallest value an integer key takes. */
    long min() default Long.MIN_VALUE;

    /** The largest value an integer key takes. */
    long max() default Long.MAX_VALUE;

    /** The default as the docs show it, when the record's own default is not what a user sees. */
    String defaultText() default "";

    /**
     * For a key naming connections (a string, or the values of a mapping): the record of that kind of
     * connection, annotated with {@link Connection}.
     */
    Class<?> connection() default Void.class;
}
