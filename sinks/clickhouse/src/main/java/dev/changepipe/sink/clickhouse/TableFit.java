package dev.changepipe.sink.clickhouse;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Whether a table fits the replacing or the collapsing mode: its engine, and the version, deleted and
 * sign columns the mode writes. A table that does not fit is refused before anything is written, with
 * one error that names the table, says everything that is wrong and prints the statements that copy it
 * into a table that fits (ClickHouse cannot change a table's engine in place; 18.16 has no {@code
 * ALTER ... MODIFY ENGINE} and newer servers refuse to alter an engine's version or sign column).
 *
 * <ul>
 *   <li>replacing: {@code [Replicated]ReplacingMergeTree(<versionColumn>[, <deletedColumn>])}, the
 *       version column {@code UInt64} or {@code Int64}, the deleted column an integer;
 *   <li>collapsing: {@code [Replicated]CollapsingMergeTree(<signColumn>)}, the sign column a signed
 *       integer, the version column {@code UInt64} or {@code Int64}.
 * </ul>
 */
final class TableFit {

    /** The suffix of the table the migration creates, renamed to the table's name at its end. */
    static final String NEW_SUFFIX = "__changepipe_new";
    /** The suffix the table's previous version is renamed to. */
    static final String OLD_SUFFIX = "__changepipe_old";

    /** A column as {@code system.columns} gives it. */
    record Column(String name, String type, String defaultKind, String defaultExpression) {
        boolean computed() {
            return defaultKind.equals("MATERIALIZED") || defaultKind.equals("ALIAS");
        }
    }

    /**
     * A table as {@code system.tables} and {@code system.columns} give it: {@code engine_full}, {@code
     * create_table_query} (the server's own CREATE statement), the keys, the columns in order.
     */
    record Table(String database, String name, TableEngine engine, String createQuery, String partitionKey,
            String sortingKey, String samplingKey, List<Column> columns) {

        Column column(String name) {
            for (Column c : columns) {
                if (c.name().equals(name)) {
                    return c;
                }
            }
            return null;
        }

        String qualified() {
            return database + "." + name;
        }
    }

    private TableFit() {
    }

    /**
     * The refusal of a table that does not fit {@code mode}, or {@code null} when it fits (append mode:
     * always). {@code table} is the table the engine belongs to: the target itself, or the local table a
     * {@code Distributed} target writes into, given as {@code through}.
     */
    static ClickHouseWriteException check(ClickHouseSinkOptions options, WriteMode mode, String target, Table table,
            Table through) {
        if (mode == WriteMode.APPEND) {
            return null;
        }
        boolean replacing = mode == WriteMode.REPLACING;
        String family = replacing ? "ReplacingMergeTree" : "CollapsingMergeTree";
        String modeName = mode.name().toLowerCase(Locale.ROOT);
        String version = options.versionColumn();
        String flag = replacing ? options.deletedColumn() : options.signColumn();
        List<String> problems = new ArrayList<>();
        String faultyColumn = null;

        TableEngine engine = table.engine();
        List<String> params = engine.params();
        boolean engineFits;
        if (!engine.family().equals(family)) {
            engineFits = false;
            problems.add("its engine is " + engine.call() + ", not " + family + ": " + (replacing
                    ? "only ReplacingMergeTree keeps one row per key, the newest, at FINAL and in merges"
                    : "only CollapsingMergeTree collapses the rows this mode cancels with " + flag + " = -1"));
        } else if (replacing && params.isEmpty()) {
            engineFits = false;
            problems.add("its engine is " + engine.call() + " without a version column: FINAL and merges keep the"
                    + " last inserted row of each key, not the newest, and the sink's writes are ordered by version"
                    + " only (two writes in flight, replays after a restart), so an older row can win over an update"
                    + " or bring a deleted row back");
        } else if (replacing && (params.size() > 2 || !version.equals(TableEngine.identifier(params.get(0))))) {
            engineFits = false;
            problems.add("its engine is " + engine.call() + ", whose version column is " + params.get(0)
                    + ", not " + version + " (the column the sink writes versions into)");
        } else if (!replacing && (params.size() != 1 || !flag.equals(TableEngine.identifier(params.get(0))))) {
            engineFits = false;
            problems.add("its engine is " + engine.call() + ", whose sign column is not " + flag
                    + " (the column the sink writes the sign into)");
        } else {
            engineFits = true;
        }

        Map<String, String> retype = new LinkedHashMap<>(); // columns the migration gives a new type
        List<String> add = new ArrayList<>(); // columns the migration adds, as "name Type"
        Column v = table.column(version);
        if (v == null) {
            problems.add("it has no column " + version + " (UInt64)");
            add.add(version);
            faultyColumn = version;
        } else if (v.computed()) {
            problems.add("column " + version + " is " + v.defaultKind() + ", the sink must write it");
            retype.put(version, "UInt64");
            faultyColumn = version;
        } else if (!wide(ColumnType.parse(v.type()))) {
            problems.add("column " + version + " has type " + v.type() + "; the " + modeName + " mode needs UInt64"
                    + " (or Int64): versions are non-negative 64-bit numbers up to 2^63-1, which a " + v.type()
                    + " column would truncate");
            retype.put(version, "UInt64");
            faultyColumn = version;
        }
        Column f = table.column(flag);
        String flagType = replacing ? "UInt8" : "Int8";
        if (f == null) {
            problems.add("it has no column " + flag + " (" + flagType + ")");
            add.add(flag);
            faultyColumn = faultyColumn == null ? flag : faultyColumn;
        } else if (f.computed()) {
            problems.add("column " + flag + " is " + f.defaultKind() + ", the sink must write it");
            retype.put(flag, flagType);
            faultyColumn = faultyColumn == null ? flag : faultyColumn;
        } else if (!flagFits(replacing, ColumnType.parse(f.type()))) {
            problems.add("column " + flag + " has type " + f.type() + "; the " + modeName + " mode needs " + flagType
                    + (replacing ? ": the deleted flag is 0 or 1" : " (a signed integer): the sign is -1 or 1"));
            retype.put(flag, flagType);
            faultyColumn = faultyColumn == null ? flag : faultyColumn;
        }
        if (problems.isEmpty()) {
            return null;
        }

        StringBuilder m = new StringBuilder();
        if (through != null) {
            m.append("table ").append(through.qualified()).append(" is ").append(through.engine().call())
                    .append(", which writes into ").append(table.qualified()).append(" (as found on the server the sink"
                            + " talks to); that table");
        } else {
            m.append("table ").append(table.qualified());
        }
        m.append(" does not fit the ").append(modeName).append(" mode: ").append(String.join("; ", problems))
                .append(". The ").append(modeName).append(" mode needs ENGINE = ").append(family).append('(')
                .append(replacing ? version : flag).append(") with the columns ").append(version)
                .append(" UInt64 (or Int64) and ").append(flag).append(' ').append(flagType).append('.');
        List<String> statements;
        boolean alter = engineFits && alterable(table, retype, add);
        if (alter) {
            statements = List.of(alterSql(options, table, retype, add));
            m.append(" Its engine fits; the columns can be changed in place (an ALTER that rewrites at most the"
                    + " columns it changes). Run");
        } else {
            statements = engine.mergeTree() && !table.createQuery().isBlank()
                    ? migration(options, mode, table, retype, add) : List.of();
            if (statements.isEmpty()) {
                m.append(" It is not a MergeTree table (or the server did not give a CREATE statement the sink"
                        + " understands), so no migration is printed: point the sink at a ").append(family)
                        .append(" table.");
                return new ClickHouseWriteException(options.name(), target, faultyColumn, m.toString(), null, false,
                        0, 0);
            }
            m.append(" ClickHouse cannot change a table's engine (nor, on newer servers, the type of an engine's"
                    + " version or sign column) in place: copy the table into a new one and swap the names. Stop"
                    + " whatever else writes into it (django-clickhouse's sync, other pipelines), then run");
        }
        if (through != null) {
            m.append(" on every shard of the cluster");
        }
        if (engine.replicated()) {
            m.append(alter ? " (a replicated table: on one replica)"
                    : " (a replicated table: the CREATE TABLE and RENAME TABLE on every replica, the INSERT on one"
                    + " replica only; the new table gets its own ZooKeeper path)");
        }
        m.append(":\n");
        for (String s : statements) {
            m.append(s).append(";\n");
        }
        if (!alter) {
            m.append("The previous table stays as ").append(table.qualified()).append(OLD_SUFFIX)
                    .append(": drop it once the new one is checked.");
        }
        return new ClickHouseWriteException(options.name(), target, faultyColumn, m.toString().strip(), null, false,
                0, 0);
    }

    /**
     * Whether the columns can be fixed with an ALTER: none of them is an engine parameter (the version
     * of ReplacingMergeTree, the sign of CollapsingMergeTree), a key column or computed.
     */
    private static boolean alterable(Table table, Map<String, String> retype, List<String> add) {
        java.util.Set<String> fixed = new java.util.HashSet<>();
        for (String p : table.engine().params()) {
            fixed.add(TableEngine.identifier(p));
        }
        fixed.addAll(Sql.identifiersOf(table.partitionKey()));
        fixed.addAll(Sql.identifiersOf(table.sortingKey()));
        fixed.addAll(Sql.identifiersOf(table.samplingKey()));
        for (String c : retype.keySet()) {
            Column column = table.column(c);
            if (fixed.contains(c) || column == null || column.computed()) {
                return false;
            }
        }
        for (String c : add) {
            if (fixed.contains(c)) {
                return false;
            }
        }
        return true;
    }

    /** {@code ALTER TABLE db.t ADD COLUMN ..., MODIFY COLUMN ...}. */
    private static String alterSql(ClickHouseSinkOptions options, Table table, Map<String, String> retype,
            List<String> add) {
        List<String> actions = new ArrayList<>();
        for (String c : add) {
            actions.add("ADD COLUMN " + Sql.identifier(c) + " " + typeOf(options, c));
        }
        retype.forEach((c, type) -> actions.add("MODIFY COLUMN " + Sql.identifier(c) + " " + type));
        return "ALTER TABLE " + Sql.table(table.database(), table.name()) + " " + String.join(", ", actions);
    }

    /** The type a sink column is given: UInt64 for the version, UInt8 for the deleted flag, Int8 for the sign. */
    private static String typeOf(ClickHouseSinkOptions options, String column) {
        return column.equals(options.versionColumn()) ? "UInt64"
                : column.equals(options.deletedColumn()) ? "UInt8" : "Int8";
    }

    private static boolean wide(ColumnType t) {
        return (t.kind() == ColumnType.Kind.UINT || t.kind() == ColumnType.Kind.INT) && t.bytes() == 8;
    }

    private static boolean flagFits(boolean replacing, ColumnType t) {
        ColumnType.Kind k = t.kind();
        return replacing ? k == ColumnType.Kind.UINT || k == ColumnType.Kind.INT || k == ColumnType.Kind.BOOL
                : k == ColumnType.Kind.INT;
    }

    /**
     * The statements that copy {@code table} into one that fits the mode and give it the table's name:
     * {@code CREATE TABLE t__changepipe_new} with the table's columns (as the server declares them, some
     * retyped, the missing ones added), the engine of the mode (replicated when the table is) and the
     * table's partition key, sorting key, sampling key and settings; {@code INSERT INTO ... SELECT} of
     * every stored column, from the table's visible state ({@code FINAL}) unless it is a plain MergeTree;
     * {@code RENAME TABLE} of both. Empty when the CREATE statement is not understood.
     */
    static List<String> migration(ClickHouseSinkOptions options, WriteMode mode, Table table,
            Map<String, String> retype, List<String> add) {
        boolean replacing = mode == WriteMode.REPLACING;
        String family = replacing ? "ReplacingMergeTree" : "CollapsingMergeTree";
        TableEngine engine = table.engine();
        String create = table.createQuery();
        int open = firstParenthesis(create);
        if (open < 0) {
            return List.of();
        }
        List<String> elements = new ArrayList<>();
        int close;
        try {
            close = TableEngine.split(create, open, elements);
        } catch (IllegalArgumentException e) {
            return List.of();
        }
        if (!create.substring(close + 1).trim().startsWith("ENGINE")) {
            return List.of();
        }
        int lastColumn = -1;
        for (int i = 0; i < elements.size(); i++) {
            String element = elements.get(i);
            if (element.matches("(?is)(INDEX|CONSTRAINT|PROJECTION)\\s.*")) {
                continue;
            }
            String[] nameAndRest = nameAndRest(element);
            if (nameAndRest == null) {
                return List.of();
            }
            lastColumn = i;
            String type = retype.get(nameAndRest[0]);
            if (type != null) {
                elements.set(i, Sql.identifier(nameAndRest[0]) + " " + type);
            }
        }
        List<String> added = new ArrayList<>();
        for (String column : add) {
            added.add(Sql.identifier(column) + " " + typeOf(options, column));
        }
        elements.addAll(lastColumn + 1, added);

        List<String> args = new ArrayList<>();
        List<String> replication = engine.replicationArgs();
        if (!replication.isEmpty()) {
            String path = replication.get(0);
            args.add(path.substring(0, path.length() - 1) + Sql.string(NEW_SUFFIX).substring(1));
            args.add(replication.get(1));
        }
        if (replacing) {
            args.add(Sql.identifier(options.versionColumn()));
            List<String> params = engine.params();
            if (engine.family().equals(family) && params.size() == 2
                    && options.deletedColumn().equals(TableEngine.identifier(params.get(1)))) {
                args.add(params.get(1)); // ReplacingMergeTree(version, is_deleted) of newer servers: kept
            }
        } else {
            args.add(Sql.identifier(options.signColumn()));
        }
        String newEngine = (engine.replicated() ? "Replicated" : "") + family + "(" + String.join(", ", args) + ")";
        String tail;
        if (engine.oldSyntax()) {
            StringBuilder t = new StringBuilder();
            if (!table.partitionKey().isBlank()) {
                t.append("PARTITION BY ").append(table.partitionKey()).append(' ');
            }
            t.append("ORDER BY (").append(table.sortingKey().isBlank() ? "" : table.sortingKey()).append(')');
            if (!table.samplingKey().isBlank()) {
                t.append(" SAMPLE BY ").append(table.samplingKey());
            }
            t.append(" SETTINGS index_granularity = ").append(engine.granularity());
            tail = t.toString();
        } else {
            tail = engine.tail();
        }
        String newTable = Sql.table(table.database(), table.name() + NEW_SUFFIX);
        String oldTable = Sql.table(table.database(), table.name());
        List<String> statements = new ArrayList<>();
        statements.add("CREATE TABLE " + newTable + " (" + String.join(", ", elements) + ") ENGINE = " + newEngine
                + (tail.isEmpty() ? "" : " " + tail));

        List<String> into = new ArrayList<>();
        List<String> select = new ArrayList<>();
        for (Column c : table.columns()) {
            if (!c.computed()) {
                into.add(Sql.identifier(c.name()));
                select.add(Sql.identifier(c.name()));
            }
        }
        if (!replacing && add.contains(options.signColumn())) {
            into.add(Sql.identifier(options.signColumn()));
            select.add("1"); // every row copied is a visible row
        }
        StringBuilder from = new StringBuilder(oldTable);
        String old = engine.family();
        if (!old.equals("MergeTree")) {
            // the visible state as the old engine defines it: rows of one key left unmerged would otherwise
            // be ordered anew by the copy (ReplacingMergeTree() keeps the last inserted, which the copy changes)
            from.append(" FINAL");
            Column deleted = table.column(options.deletedColumn());
            if (!replacing && old.equals("ReplacingMergeTree") && deleted != null && !deleted.computed()) {
                from.append(" WHERE ").append(Sql.identifier(options.deletedColumn())).append(" = 0");
            }
        }
        statements.add("INSERT INTO " + newTable + " (" + String.join(", ", into) + ") SELECT "
                + String.join(", ", select) + " FROM " + from);
        statements.add("RENAME TABLE " + oldTable + " TO " + Sql.table(table.database(), table.name() + OLD_SUFFIX)
                + ", " + newTable + " TO " + oldTable);
        return statements;
    }

    /** The index of the first parenthesis outside quotes (the column list of a CREATE statement), or -1. */
    private static int firstParenthesis(String s) {
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\'' || c == '`' || c == '"') {
                i = TableEngine.skipQuoted(s, i);
            } else if (c == '(') {
                return i;
            } else {
                i++;
            }
        }
        return -1;
    }

    /** A column declaration's name (unquoted) and the rest of it, or {@code null} when not understood. */
    private static String[] nameAndRest(String element) {
        String e = element.trim();
        int end;
        if (e.isEmpty()) {
            return null;
        }
        if (e.charAt(0) == '`' || e.charAt(0) == '"') {
            end = TableEngine.skipQuoted(e, 0);
        } else {
            end = 0;
            while (end < e.length() && !Character.isWhitespace(e.charAt(end))) {
                end++;
            }
        }
        String name = TableEngine.identifier(e.substring(0, end));
        return name == null ? null : new String[] {name, e.substring(end).trim()};
    }
}
