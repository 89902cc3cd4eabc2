package dev.changepipe.source.cdc;

import java.util.regex.Pattern;

/**
 * A table as the configuration names it ({@code schema.table}, or {@code table} in {@code public}).
 * The parts are checked against a plain identifier pattern and always quoted in SQL.
 *
 * @param schema the schema
 * @param name the table
 */
record TableName(String schema, String name) {

    private static final Pattern PART = Pattern.compile("[A-Za-z_][A-Za-z0-9_$]{0,62}");

    static TableName parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("a table name is missing");
        }
        int dot = text.indexOf('.');
        String schema = dot < 0 ? "public" : text.substring(0, dot);
        String name = dot < 0 ? text : text.substring(dot + 1);
        if (!PART.matcher(schema).matches() || !PART.matcher(name).matches()) {
            throw new IllegalArgumentException("table '" + text + "' is not `table` or `schema.table` of letters, "
                    + "digits, `_` and `$`");
        }
        return new TableName(schema, name);
    }

    /** The table id the change items carry: {@code table} in {@code public}, else {@code schema.table}. */
    String id() {
        return schema.equals("public") ? name : schema + "." + name;
    }

    /** {@code "schema"."table"}. */
    String sql() {
        return quote(schema) + "." + quote(name);
    }

    static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    @Override
    public String toString() {
        return schema + "." + name;
    }
}
