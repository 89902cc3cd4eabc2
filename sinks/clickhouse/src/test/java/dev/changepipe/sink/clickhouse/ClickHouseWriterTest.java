package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Table creation statements and feature detection, without a server. */
class ClickHouseWriterTest {

    private static final TableOptions TABLE = TableOptions.builder()
            .create(List.of("id UInt64", "name String"), List.of("id")).partitionBy("tuple()").build();

    @Test
    void tableCreationDeclaresTheColumnsOfEachModeAndOnClusterWhenAClusterIsConfigured() {
        ClickHouseSinkOptions options = ClickHouseSinkOptions.builder().endpoints("http://h:8123")
                .database("analytics").cluster("main").build();
        assertThat(ClickHouseWriter.createTableSql(options, "app_model", WriteMode.REPLACING, TABLE))
                .isEqualTo("CREATE TABLE IF NOT EXISTS `analytics`.`app_model` ON CLUSTER `main`"
                        + " (`id` UInt64, `name` String, `version` UInt64, `is_deleted` UInt8)"
                        + " ENGINE = ReplacingMergeTree(`version`) PARTITION BY tuple() ORDER BY (`id`)");
        assertThat(ClickHouseWriter.createTableSql(options, "app_model", WriteMode.COLLAPSING, TABLE))
                .contains("`version` UInt64, `sign` Int8)", "ENGINE = CollapsingMergeTree(`sign`)");
        assertThat(ClickHouseWriter.createTableSql(options, "app_model", WriteMode.APPEND, TABLE))
                .contains("`version` UInt64, `changepipe_origin` String, `changepipe_offset` UInt64,"
                        + " `changepipe_row` UInt32)", "ENGINE = MergeTree ");
        ClickHouseSinkOptions renamed = ClickHouseSinkOptions.builder().endpoints("http://h:8123")
                .chunkColumns("src", "pos", "n").build();
        assertThat(ClickHouseWriter.createTableSql(renamed, "app_model", WriteMode.APPEND, TABLE))
                .contains("`version` UInt64, `src` String, `pos` UInt64, `n` UInt32)");
        ClickHouseSinkOptions single = ClickHouseSinkOptions.builder().endpoints("http://h:8123").build();
        assertThat(ClickHouseWriter.createTableSql(single, "app_model", WriteMode.REPLACING, TABLE))
                .doesNotContain("ON CLUSTER");
    }

    @Test
    void aShardedTableIsCreatedAsReplicatedLocalTablesUnderADistributedTable() {
        ClickHouseSinkOptions options = ClickHouseSinkOptions.builder().endpoints("http://h:8123")
                .database("analytics").cluster("main").build();
        TableOptions sharded = TableOptions.builder().create(List.of("id UInt64", "name String"), List.of("id"))
                .shardBy("cityHash64(id)").build();
        assertThat(ClickHouseWriter.createTableSql(options, "app_model_local", WriteMode.REPLACING, sharded))
                .isEqualTo("CREATE TABLE IF NOT EXISTS `analytics`.`app_model_local` ON CLUSTER `main`"
                        + " (`id` UInt64, `name` String, `version` UInt64, `is_deleted` UInt8) ENGINE ="
                        + " ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics.app_model_local', '{replica}',"
                        + " `version`) ORDER BY (`id`)");
        assertThat(ClickHouseWriter.createTableSql(options, "t_local", WriteMode.COLLAPSING, sharded))
                .contains("ENGINE = ReplicatedCollapsingMergeTree('/clickhouse/tables/{shard}/analytics.t_local',"
                        + " '{replica}', `sign`)");
        assertThat(ClickHouseWriter.createTableSql(options, "t_local", WriteMode.APPEND, sharded))
                .contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics.t_local', '{replica}')");
        assertThat(ClickHouseWriter.createDistributedSql(options, "app_model", sharded))
                .isEqualTo("CREATE TABLE IF NOT EXISTS `analytics`.`app_model` ON CLUSTER `main` AS"
                        + " `analytics`.`app_model_local` ENGINE = Distributed(`main`, `analytics`, `app_model_local`,"
                        + " cityHash64(id))");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ClickHouseSinkOptions.builder()
                .endpoints("http://h:8123").table("app.model", sharded).build())
                .hasMessageContaining("tables.app.model.create.shardBy").hasMessageContaining("set the sink's cluster");
    }

    @Test
    void databaseCreationIsIfNotExistsQuotedAndOnClusterWhenAClusterIsConfigured() {
        assertThat(ClickHouseWriter.createDatabaseSql(ClickHouseSinkOptions.builder().endpoints("http://h:8123")
                .database("my`db").cluster("main").build()))
                .isEqualTo("CREATE DATABASE IF NOT EXISTS `my\\`db` ON CLUSTER `main`");
        assertThat(ClickHouseWriter.createDatabaseSql(ClickHouseSinkOptions.builder().endpoints("http://h:8123")
                .database("analytics").build()))
                .isEqualTo("CREATE DATABASE IF NOT EXISTS `analytics`");
    }

    @Test
    void insertDeduplicationTokensAreFeatureDetectedFromTheServerVersion() {
        assertThat(ServerVersion.parse("18.16.1").supportsInsertDeduplicationToken()).isFalse();
        assertThat(ServerVersion.parse("22.1.3.7").supportsInsertDeduplicationToken()).isFalse();
        assertThat(ServerVersion.parse("22.2.2.1").supportsInsertDeduplicationToken()).isTrue();
        assertThat(ServerVersion.parse("24.8.4.13").supportsInsertDeduplicationToken()).isTrue();
    }
}
