package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The engine and column checks on tables described by hand (as {@code system.tables} and {@code
 * system.columns} give them); {@code TableChecksIntegrationTest} runs the printed statements on the
 * server.
 */
class TableFitTest {

    private static final ClickHouseSinkOptions OPTIONS = ClickHouseSinkOptions.builder().endpoints("http://h:8123")
            .database("analytics").build();

    /** A table from its CREATE statement's column list and its engine_full, columns "name Type [KIND expr]". */
    private static TableFit.Table table(String name, String columns, String engineFull, String partition,
            String sorting) {
        List<TableFit.Column> list = new ArrayList<>();
        for (String c : columns.split(",\\s*")) {
            String[] p = c.trim().split("\\s+", 4);
            String n = p[0].replace("`", "");
            list.add(new TableFit.Column(n, p[1], p.length > 2 ? p[2] : "", p.length > 3 ? p[3] : ""));
        }
        return new TableFit.Table("analytics", name, TableEngine.parse(engineFull),
                "CREATE TABLE analytics." + name + " ( " + columns + ") ENGINE = " + engineFull, partition, sorting, "",
                list);
    }

    @Test
    void aTableThatFitsIsNotRefused() {
        assertThat(TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "ReplacingMergeTree(version) ORDER BY id", "", "id"),
                null)).isNull();
        assertThat(TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version Int64, is_deleted UInt8",
                "ReplicatedReplacingMergeTree('/ch/t', '{replica}', version, is_deleted) ORDER BY id", "", "id"),
                null)).isNull();
        assertThat(TableFit.check(OPTIONS, WriteMode.COLLAPSING, "t", table("t",
                "id UInt64, version UInt64, sign Int8", "CollapsingMergeTree(created_date, id, 8192, sign)", "", "id"),
                null)).isNull();
        assertThat(TableFit.check(OPTIONS, WriteMode.APPEND, "t", table("t", "id UInt64",
                "Log", "", ""), null)).isNull();
    }

    @Test
    void replacingWithoutAVersionIsRefusedWithTheCopyThatFixesIt() {
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.REPLACING, "polls_choice", table("polls_choice",
                "id UInt64, created_date Date, votes Int32",
                "ReplacingMergeTree() PARTITION BY toYYYYMM(created_date) ORDER BY id SETTINGS index_granularity = 8192",
                "toYYYYMM(created_date)", "id"), null);
        assertThat(e.isRetryable()).isFalse();
        assertThat(e.getMessage())
                .startsWith("sink clickhouse, table polls_choice, column version: table analytics.polls_choice does"
                        + " not fit the replacing mode: its engine is ReplacingMergeTree() without a version column")
                .contains("it has no column version (UInt64); it has no column is_deleted (UInt8)")
                .contains("CREATE TABLE `analytics`.`polls_choice__changepipe_new` (id UInt64, created_date Date,"
                        + " votes Int32, `version` UInt64, `is_deleted` UInt8) ENGINE = ReplacingMergeTree(`version`)"
                        + " PARTITION BY toYYYYMM(created_date) ORDER BY id SETTINGS index_granularity = 8192;\n")
                .contains("INSERT INTO `analytics`.`polls_choice__changepipe_new` (`id`, `created_date`, `votes`)"
                        + " SELECT `id`, `created_date`, `votes` FROM `analytics`.`polls_choice` FINAL;\n")
                .contains("RENAME TABLE `analytics`.`polls_choice` TO `analytics`.`polls_choice__changepipe_old`,"
                        + " `analytics`.`polls_choice__changepipe_new` TO `analytics`.`polls_choice`;\n")
                .endsWith("The previous table stays as analytics.polls_choice__changepipe_old: drop it once the new one"
                        + " is checked.");
    }

    @Test
    void collapsingWithANarrowVersionIsWidenedInPlace() {
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.COLLAPSING, "polls_choice", table("polls_choice",
                "id UInt64, created_date Date, version UInt32, sign Int8",
                "CollapsingMergeTree(sign) PARTITION BY toYYYYMM(created_date) ORDER BY id", "toYYYYMM(created_date)",
                "id"), null);
        assertThat(e.column()).isEqualTo("version");
        assertThat(e.getMessage())
                .contains("column version has type UInt32; the collapsing mode needs UInt64 (or Int64)")
                .endsWith(":\nALTER TABLE `analytics`.`polls_choice` MODIFY COLUMN `version` UInt64;")
                .doesNotContain("CREATE TABLE");
    }

    @Test
    void anEngineColumnOrAKeyColumnIsNotAlteredButCopied() {
        ClickHouseWriteException version = TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version UInt32, is_deleted UInt8", "ReplacingMergeTree(version) ORDER BY id", "", "id"),
                null);
        assertThat(version.getMessage()).contains("CREATE TABLE `analytics`.`t__changepipe_new` (id UInt64,"
                + " `version` UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(`version`) ORDER BY id;\n");
        ClickHouseWriteException sign = TableFit.check(OPTIONS, WriteMode.COLLAPSING, "t", table("t",
                "id UInt64, version UInt64, sign UInt8", "CollapsingMergeTree(sign) ORDER BY id", "", "id"), null);
        assertThat(sign.getMessage()).contains("column sign has type UInt8; the collapsing mode needs Int8")
                .contains("(id UInt64, version UInt64, `sign` Int8) ENGINE = CollapsingMergeTree(`sign`) ORDER BY id;");
        ClickHouseWriteException keyed = TableFit.check(OPTIONS, WriteMode.COLLAPSING, "t", table("t",
                "id UInt64, version UInt32, sign Int8", "CollapsingMergeTree(sign) ORDER BY (id, version)", "",
                "id, version"), null);
        assertThat(keyed.getMessage()).contains("CREATE TABLE").doesNotContain("ALTER TABLE");
    }

    @Test
    void theOldSyntaxIsRewrittenWithItsKeysAndGranularity() {
        TableFit.Table t = new TableFit.Table("analytics", "t", TableEngine.parse("ReplacingMergeTree(d, (id), 8192)"),
                "CREATE TABLE analytics.t ( id UInt64,  d Date,  version UInt64,  is_deleted UInt8)"
                        + " ENGINE = ReplacingMergeTree(d, id, 8192)", "toYYYYMM(d)", "id", "",
                List.of(new TableFit.Column("id", "UInt64", "", ""), new TableFit.Column("d", "Date", "", ""),
                        new TableFit.Column("version", "UInt64", "", ""),
                        new TableFit.Column("is_deleted", "UInt8", "", "")));
        assertThat(TableFit.check(OPTIONS, WriteMode.REPLACING, "t", t, null).getMessage())
                .contains("ENGINE = ReplacingMergeTree(`version`) PARTITION BY toYYYYMM(d) ORDER BY (id)"
                        + " SETTINGS index_granularity = 8192;");
    }

    @Test
    void theConfiguredColumnNamesAreChecked() {
        ClickHouseSinkOptions renamed = ClickHouseSinkOptions.builder().endpoints("http://h:8123").database("analytics")
                .versionColumn("ver").deletedColumn("gone").build();
        ClickHouseWriteException e = TableFit.check(renamed, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "ReplacingMergeTree(version) ORDER BY id", "", "id"),
                null);
        assertThat(e.getMessage())
                .contains("whose version column is version, not ver")
                .contains("`ver` UInt64, `gone` UInt8) ENGINE = ReplacingMergeTree(`ver`) ORDER BY id;");
    }

    @Test
    void anotherEngineIsCopiedFromItsVisibleState() {
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.COLLAPSING, "t", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "ReplacingMergeTree(version) ORDER BY id", "", "id"),
                null);
        assertThat(e.getMessage())
                .contains("its engine is ReplacingMergeTree(version), not CollapsingMergeTree")
                .contains("is_deleted UInt8, `sign` Int8) ENGINE = CollapsingMergeTree(`sign`) ORDER BY id;")
                .contains("(`id`, `version`, `is_deleted`, `sign`) SELECT `id`, `version`, `is_deleted`, 1"
                        + " FROM `analytics`.`t` FINAL WHERE `is_deleted` = 0;");
        ClickHouseWriteException plain = TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "MergeTree ORDER BY id", "", "id"), null);
        assertThat(plain.getMessage()).contains("SELECT `id`, `version`, `is_deleted` FROM `analytics`.`t`;");
    }

    @Test
    void aTableThatIsNoMergeTreeGetsNoMigration() {
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "Log", "", ""), null);
        assertThat(e.getMessage()).contains("its engine is Log(), not ReplacingMergeTree")
                .contains("no migration is printed").doesNotContain("CREATE TABLE");
    }

    @Test
    void aReplicatedTableKeepsReplicatedUnderANewPath() {
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.REPLACING, "t", table("t",
                "id UInt64, is_deleted UInt8",
                "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/t', '{replica}') ORDER BY id", "", "id"),
                null);
        assertThat(e.getMessage())
                .contains("on one replica only")
                .contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/t__changepipe_new',"
                        + " '{replica}', `version`) ORDER BY id;");
    }

    @Test
    void aDistributedTableIsCheckedOnItsLocalTable() {
        TableFit.Table distributed = table("t_all", "id UInt64, version UInt64, is_deleted UInt8",
                "Distributed(analytics_cluster, analytics, t, rand())", "", "");
        ClickHouseWriteException e = TableFit.check(OPTIONS, WriteMode.REPLACING, "t_all", table("t",
                "id UInt64, version UInt64, is_deleted UInt8", "ReplacingMergeTree() ORDER BY id", "", "id"),
                distributed);
        assertThat(e.getMessage())
                .contains("table analytics.t_all is Distributed(analytics_cluster, analytics, t, rand()), which"
                        + " writes into analytics.t")
                .contains("on every shard of the cluster")
                .contains("CREATE TABLE `analytics`.`t__changepipe_new`");
    }

    @Test
    void identifiersInTheStatementsAreQuoted() {
        TableFit.Table t = new TableFit.Table("my db", "we`ird", TableEngine.parse("ReplacingMergeTree() ORDER BY `i d`"),
                "CREATE TABLE `my db`.`we\\`ird` ( `i d` UInt64,  version UInt64,  is_deleted UInt8)"
                        + " ENGINE = ReplacingMergeTree() ORDER BY `i d`", "", "`i d`", "",
                List.of(new TableFit.Column("i d", "UInt64", "", ""), new TableFit.Column("version", "UInt64", "", ""),
                        new TableFit.Column("is_deleted", "UInt8", "", "")));
        assertThat(TableFit.check(OPTIONS, WriteMode.REPLACING, "we`ird", t, null).getMessage())
                .contains("CREATE TABLE `my db`.`we\\`ird__changepipe_new` (`i d` UInt64, version UInt64,")
                .contains("INSERT INTO `my db`.`we\\`ird__changepipe_new` (`i d`, `version`, `is_deleted`)")
                .contains("RENAME TABLE `my db`.`we\\`ird` TO `my db`.`we\\`ird__changepipe_old`");
    }
}
