package dev.changepipe.sink.clickhouse;

import java.util.List;
import java.util.Objects;

/**
 * How one source table is written: the ClickHouse table, the write mode and, optionally, how to
 * create it. Immutable.
 *
 * @param target the ClickHouse table in the sink's database; {@code null} for the default mapping
 *     ({@code app.model} becomes {@code app_model})
 * @param mode the write mode; {@code null} for the sink's {@link ClickHouseSinkOptions#defaultMode()}
 * @param create whether the sink creates the table (if it does not exist) from {@code columns}
 * @param columns the declared columns as {@code "name Type"} (data columns only: the version,
 *     {@code is_deleted} or {@code sign} columns of the mode are added); required with {@code create}
 * @param orderBy the sorting key (the key columns); required with {@code create}
 * @param partitionBy an optional {@code PARTITION BY} expression, or {@code null}
 * @param shardBy with the sink's cluster: the sharding expression of a created table, which is then made
 *     as a {@code Replicated} table on every node ({@code <target>_local}) and a {@code Distributed} table
 *     ({@code <target>}) over them; it must give every version of a key one value (the key columns, or a
 *     hash of them). {@code null}: one table of the mode's engine on every node of the cluster
 */
public record TableOptions(String target, WriteMode mode, boolean create, List<String> columns,
        List<String> orderBy, String partitionBy, String shardBy) {

    /** Without a sharding expression. */
    public TableOptions(String target, WriteMode mode, boolean create, List<String> columns, List<String> orderBy,
            String partitionBy) {
        this(target, mode, create, columns, orderBy, partitionBy, null);
    }

    public TableOptions {
        columns = columns == null ? List.of() : List.copyOf(columns);
        orderBy = orderBy == null ? List.of() : List.copyOf(orderBy);
        if (target != null && target.isBlank()) {
            throw new IllegalArgumentException("target: must not be blank");
        }
        if (shardBy != null && (!create || shardBy.isBlank())) {
            throw new IllegalArgumentException("shardBy: only for a table the sink creates, and not blank (table "
                    + target + ")");
        }
        if (create && (columns.isEmpty() || orderBy.isEmpty())) {
            throw new IllegalArgumentException("create: needs columns and orderBy (table " + target + ")");
        }
        for (String c : columns) {
            if (c.trim().split("\\s+", 2).length < 2) {
                throw new IllegalArgumentException("columns: '" + c + "' is not 'name Type'");
            }
        }
    }

    /** A builder with every option unset (default mapping, default mode, no creation). */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link TableOptions}. Not thread-safe. */
    public static final class Builder {
        private String target;
        private WriteMode mode;
        private boolean create;
        private List<String> columns = List.of();
        private List<String> orderBy = List.of();
        private String partitionBy;
        private String shardBy;

        private Builder() {
        }

        public Builder target(String target) {
            this.target = target;
            return this;
        }

        public Builder mode(WriteMode mode) {
            this.mode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** Creates the table when missing, from {@code columns} sorted by {@code orderBy}. */
        public Builder create(List<String> columns, List<String> orderBy) {
            this.create = true;
            this.columns = columns;
            this.orderBy = orderBy;
            return this;
        }

        public Builder partitionBy(String partitionBy) {
            this.partitionBy = partitionBy;
            return this;
        }

        /** With the sink's cluster: create a {@code Replicated} local table and a {@code Distributed} one, sharded so. */
        public Builder shardBy(String expression) {
            this.shardBy = expression;
            return this;
        }

        public TableOptions build() {
            return new TableOptions(target, mode, create, columns, orderBy, partitionBy, shardBy);
        }
    }
}
