package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Engines as {@code system.tables.engine_full} spells them (18.16 and newer servers). */
class TableEngineTest {

    @Test
    void theNewSyntaxGivesTheEngineParametersAndKeepsTheClausesAfterThem() {
        TableEngine e = TableEngine.parse("ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date) ORDER BY id"
                + " SETTINGS index_granularity = 8192");
        assertThat(e.name()).isEqualTo("ReplacingMergeTree");
        assertThat(e.family()).isEqualTo("ReplacingMergeTree");
        assertThat(e.replicated()).isFalse();
        assertThat(e.mergeTree()).isTrue();
        assertThat(e.oldSyntax()).isFalse();
        assertThat(e.params()).containsExactly("version");
        assertThat(e.tail()).isEqualTo("PARTITION BY toYYYYMM(created_date) ORDER BY id SETTINGS index_granularity = 8192");
        assertThat(e.call()).isEqualTo("ReplacingMergeTree(version)");
    }

    @Test
    void anEngineWithoutParametersHasNone() {
        assertThat(TableEngine.parse("ReplacingMergeTree() PARTITION BY toYYYYMM(created_date) ORDER BY id").params())
                .isEmpty();
        TableEngine merge = TableEngine.parse("MergeTree ORDER BY id SETTINGS index_granularity = 8192");
        assertThat(merge.params()).isEmpty();
        assertThat(merge.tail()).isEqualTo("ORDER BY id SETTINGS index_granularity = 8192");
        assertThat(TableEngine.parse("Log").family()).isEqualTo("Log");
        assertThat(TableEngine.parse("Log").mergeTree()).isFalse();
    }

    @Test
    void theOldSyntaxGivesTheParametersAfterTheGranularity() {
        TableEngine e = TableEngine.parse("CollapsingMergeTree(created_date, id, 8192, sign)");
        assertThat(e.oldSyntax()).isTrue();
        assertThat(e.granularity()).isEqualTo("8192");
        assertThat(e.params()).containsExactly("sign");
        TableEngine sampled = TableEngine.parse("ReplacingMergeTree(d, intHash32(id), (id, intHash32(id)), 8192, v)");
        assertThat(sampled.params()).containsExactly("v");
        assertThat(TableEngine.parse("ReplacingMergeTree(created_date, (id), 8192)").params()).isEmpty();
    }

    @Test
    void replicatedEnginesLeaveOutThePathAndReplicaName() {
        TableEngine e = TableEngine.parse("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/t', '{replica}',"
                + " version) PARTITION BY toYYYYMM(created_date) ORDER BY id");
        assertThat(e.replicated()).isTrue();
        assertThat(e.family()).isEqualTo("ReplacingMergeTree");
        assertThat(e.replicationArgs()).containsExactly("'/clickhouse/tables/{shard}/db/t'", "'{replica}'");
        assertThat(e.params()).containsExactly("version");
        TableEngine old = TableEngine.parse("ReplicatedCollapsingMergeTree('/p, with comma', 'r', d, (id), 8192, sign)");
        assertThat(old.oldSyntax()).isTrue();
        assertThat(old.params()).containsExactly("sign");
        // newer servers: the path and the replica from the server's defaults
        assertThat(TableEngine.parse("ReplicatedReplacingMergeTree(version) ORDER BY id").params())
                .containsExactly("version");
    }

    @Test
    void quotedArgumentsAreUnquoted() {
        TableEngine e = TableEngine.parse("ReplacingMergeTree(`odd ver``sion`) ORDER BY (`i d`, x)");
        assertThat(TableEngine.identifier(e.params().get(0))).isEqualTo("odd ver`sion");
        assertThat(TableEngine.identifier("`a\\`b`")).isEqualTo("a`b");
        assertThat(TableEngine.identifier("'db'")).isEqualTo("db");
        assertThat(TableEngine.identifier("\"x\"")).isEqualTo("x");
        assertThat(TableEngine.identifier("currentDatabase()")).isNull();
        assertThat(TableEngine.identifier("rand()")).isNull();
        assertThat(TableEngine.identifier("8192")).isNull();
    }

    @Test
    void distributedNamesItsLocalTable() {
        TableEngine e = TableEngine.parse("Distributed(changepipe_local, d1, t1, rand())");
        assertThat(e.name()).isEqualTo("Distributed");
        assertThat(e.mergeTree()).isFalse();
        assertThat(e.args()).containsExactly("changepipe_local", "d1", "t1", "rand()");
        assertThat(TableEngine.parse("Distributed('c', 'd1', 't1')").args()).containsExactly("'c'", "'d1'", "'t1'");
    }
}
