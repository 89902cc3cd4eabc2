package dev.changepipe.sink.clickhouse;

import java.util.ArrayList;
import java.util.List;

/**
 * A table's engine as the server spells it in {@code system.tables.engine_full} (ClickHouse 18.16 has
 * the column; so do current releases), e.g. {@code ReplacingMergeTree(version) PARTITION BY
 * toYYYYMM(created_date) ORDER BY id SETTINGS index_granularity = 8192}, the old syntax {@code
 * CollapsingMergeTree(created_date, id, 8192, sign)}, {@code
 * ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/t', '{replica}', version)} or {@code
 * Distributed(cluster, db, table, rand())}.
 *
 * @param name the engine's name, e.g. {@code ReplicatedReplacingMergeTree}
 * @param args its arguments as written (top-level, trimmed); empty without parentheses
 * @param tail what follows the engine's arguments ({@code PARTITION BY ... ORDER BY ... SETTINGS ...}),
 *     trimmed
 */
record TableEngine(String name, List<String> args, String tail) {

    private static final String REPLICATED = "Replicated";

    /** Parses {@code engine_full} (or the text after {@code ENGINE = } of a CREATE statement). */
    static TableEngine parse(String engineFull) {
        String s = engineFull.trim();
        int i = 0;
        while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) {
            i++;
        }
        String name = s.substring(0, i);
        int j = i;
        while (j < s.length() && Character.isWhitespace(s.charAt(j))) {
            j++;
        }
        if (j >= s.length() || s.charAt(j) != '(') {
            return new TableEngine(name, List.of(), s.substring(i).trim());
        }
        List<String> args = new ArrayList<>();
        int close = split(s, j, args);
        return new TableEngine(name, List.copyOf(args), s.substring(Math.min(close + 1, s.length())).trim());
    }

    /**
     * Splits the parenthesized list starting at {@code open} into {@code into} at top-level commas
     * (quotes and nested brackets respected) and returns the index of its closing parenthesis.
     */
    static int split(String s, int open, List<String> into) {
        int depth = 0;
        int start = open + 1;
        int i = open;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\'' || c == '`' || c == '"') {
                i = skipQuoted(s, i);
                continue;
            }
            if (c == '(' || c == '[') {
                depth++;
            } else if (c == ')' || c == ']') {
                depth--;
                if (depth == 0) {
                    String last = s.substring(start, i).trim();
                    if (!last.isEmpty() || !into.isEmpty()) {
                        into.add(last);
                    }
                    return i;
                }
            } else if (c == ',' && depth == 1) {
                into.add(s.substring(start, i).trim());
                start = i + 1;
            }
            i++;
        }
        throw new IllegalArgumentException("unbalanced parentheses in: " + s);
    }

    /** The index after the quoted token starting at {@code start} (backslash escapes and doubled quotes). */
    static int skipQuoted(String s, int start) {
        char quote = s.charAt(start);
        int i = start + 1;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\') {
                i += 2;
            } else if (c == quote) {
                if (i + 1 < s.length() && s.charAt(i + 1) == quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                i++;
            }
        }
        return s.length();
    }

    /** Whether this is a {@code Replicated*MergeTree}. */
    boolean replicated() {
        return name.startsWith(REPLICATED) && name.length() > REPLICATED.length();
    }

    /** The engine without {@code Replicated}: {@code ReplacingMergeTree} of {@code ReplicatedReplacingMergeTree}. */
    String family() {
        return replicated() ? name.substring(REPLICATED.length()) : name;
    }

    /** Whether this is one of the MergeTree engines (replicated or not). */
    boolean mergeTree() {
        return family().endsWith("MergeTree");
    }

    /** The ZooKeeper path and replica name of a replicated engine, when given; otherwise empty. */
    List<String> replicationArgs() {
        if (replicated() && args.size() >= 2 && args.get(0).startsWith("'")) {
            return args.subList(0, 2);
        }
        return List.of();
    }

    /**
     * Whether the arguments use the old MergeTree syntax {@code (date, [sampling,] key, granularity
     * [, engine parameters])}; then the partition and sorting keys are not in the {@link #tail()}.
     */
    boolean oldSyntax() {
        return granularityIndex() >= 0;
    }

    /** The index granularity of the old syntax, or {@code null}. */
    String granularity() {
        int g = granularityIndex();
        return g < 0 ? null : mergeArgs().get(g);
    }

    /**
     * The engine's own parameters: {@code version} of {@code ReplacingMergeTree(version)}, {@code sign}
     * of {@code CollapsingMergeTree(sign)} (replication arguments and the old syntax's date, keys and
     * granularity left out).
     */
    List<String> params() {
        List<String> merge = mergeArgs();
        int g = granularityIndex();
        return g < 0 ? merge : merge.subList(g + 1, merge.size());
    }

    private List<String> mergeArgs() {
        return args.subList(replicationArgs().size(), args.size());
    }

    private int granularityIndex() {
        if (!mergeTree()) {
            return -1;
        }
        List<String> merge = mergeArgs();
        for (int g = 2; g <= 3 && g < merge.size(); g++) {
            if (merge.get(g).matches("\\d+")) {
                return g;
            }
        }
        return -1;
    }

    /**
     * The name an argument gives when it is a plain identifier ({@code version}, {@code `odd name`},
     * {@code "x"}), or a string literal ({@code 'db'}, as {@code Distributed} takes); {@code null} for
     * any other expression.
     */
    static String identifier(String arg) {
        String a = arg.trim();
        if (a.isEmpty()) {
            return null;
        }
        char first = a.charAt(0);
        if (first == '`' || first == '"' || first == '\'') {
            if (skipQuoted(a, 0) != a.length()) {
                return null;
            }
            StringBuilder b = new StringBuilder();
            for (int i = 1; i < a.length() - 1; i++) {
                char c = a.charAt(i);
                if (c == '\\' && i + 1 < a.length() - 1) {
                    b.append(a.charAt(++i));
                } else if (c == first) {
                    b.append(c); // a doubled quote
                    i++;
                } else {
                    b.append(c);
                }
            }
            return b.toString();
        }
        for (int i = 0; i < a.length(); i++) {
            char c = a.charAt(i);
            if (!(Character.isLetterOrDigit(c) || c == '_') || (i == 0 && Character.isDigit(c))) {
                return null;
            }
        }
        return a;
    }

    /** The engine as written: its name and arguments, without the tail. */
    String call() {
        return name + "(" + String.join(", ", args) + ")";
    }
}
