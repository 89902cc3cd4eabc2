package dev.changepipe.spi;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks the record a kind of connection binds to: its components ({@link Key}s) are the keys of
 * {@code connections.<kind>.<name>}. See {@link ServiceContext#connection}.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface Connection {

    /** The kind, as under {@code connections:} ({@code clickhouse}, {@code redis}, ...). */
    String value();
}
