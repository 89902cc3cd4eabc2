package dev.changepipe.source.storage;

import java.util.Objects;

/**
 * One registered operation: a row of one database alias that was inserted, updated or deleted.
 * Immutable.
 *
 * <p>Its wire form is django-clickhouse's sorted-set member {@code "<type>:<db_alias>.<pk>"}. The
 * type and the alias never contain {@code :} or {@code .} (validated), so the first {@code :} ends the
 * type, the first {@code .} after it ends the alias, and the pk is everything after that: a pk may
 * contain any character, {@code :} and {@code .} included.
 *
 * @param type what happened
 * @param dbAlias the database alias the row lives in ({@code default} in a one-database Django app)
 * @param pk the primary key as text ({@code str(pk)} in Python)
 */
public record Operation(Type type, String dbAlias, String pk) {

    /** The alias Django uses when none is given. */
    public static final String DEFAULT_DB_ALIAS = "default";

    /** What happened to the row. The wire names are django-clickhouse's. */
    public enum Type {
        INSERT("insert"),
        UPDATE("update"),
        DELETE("delete");

        private final String wireName;

        Type(String wireName) {
            this.wireName = wireName;
        }

        /** {@code insert}, {@code update} or {@code delete}. */
        public String wireName() {
            return wireName;
        }

        /** The type with this wire name; {@link IllegalArgumentException} for any other. */
        public static Type fromWireName(String name) {
            for (Type t : values()) {
                if (t.wireName.equals(name)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("operation must be one of insert, update, delete, was '" + name + "'");
        }
    }

    public Operation {
        Objects.requireNonNull(type, "type");
        checkAlias(dbAlias);
        Objects.requireNonNull(pk, "pk");
        if (pk.isEmpty()) {
            throw new IllegalArgumentException("pk must not be empty");
        }
    }

    /** Checks that an alias can be stored unambiguously; returns it. */
    public static String checkAlias(String dbAlias) {
        Objects.requireNonNull(dbAlias, "dbAlias");
        if (dbAlias.isEmpty() || dbAlias.indexOf(':') >= 0 || dbAlias.indexOf('.') >= 0) {
            throw new IllegalArgumentException("dbAlias must be non-empty and contain neither ':' nor '.', was '"
                    + dbAlias + "'");
        }
        return dbAlias;
    }

    /** The sorted-set member: {@code "<type>:<db_alias>.<pk>"}. */
    public String member() {
        return type.wireName + ':' + dbAlias + '.' + pk;
    }

    /**
     * Parses a member written by this library or by django-clickhouse. A member without an alias
     * ({@code "<type>:<pk>"}, written by code that registers bare pks) gets {@link #DEFAULT_DB_ALIAS}.
     *
     * @throws IllegalArgumentException for a member that is not an operation
     */
    public static Operation parse(String member) {
        int colon = member.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("not an operation (no '<type>:'): '" + member + "'");
        }
        Type type = Type.fromWireName(member.substring(0, colon));
        int dot = member.indexOf('.', colon + 1);
        if (dot < 0) {
            return new Operation(type, DEFAULT_DB_ALIAS, member.substring(colon + 1));
        }
        return new Operation(type, member.substring(colon + 1, dot), member.substring(dot + 1));
    }
}
