package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SqlTest {

    @Test
    void identifiersAreQuotedWithTheirQuotesDoubled() {
        assertThat(Sql.quote("app_model")).isEqualTo("\"app_model\"");
        assertThat(Sql.quote("we\"ird; DROP TABLE x")).isEqualTo("\"we\"\"ird; DROP TABLE x\"");
        assertThat(Sql.qualified("My Schema", "t")).isEqualTo("\"My Schema\".\"t\"");
        assertThatThrownBy(() -> Sql.quote("a\0b")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Sql.quote("")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void upsertBindsEveryValueAndGuardsByVersionAndTombstone() {
        TargetTable table = table();
        List<TargetTable.Column> columns = List.of(table.columns().get("id"), table.columns().get("na\"me"));
        String sql = Sql.upsert(table, columns, List.of(table.columns().get("id")), "\"public\".\"tomb\"");
        assertThat(sql).isEqualTo("INSERT INTO \"public\".\"app_model\" AS t (\"id\", \"na\"\"me\", \"v\")"
                + " SELECT CAST($1 AS \"pg_catalog\".\"int8\"), CAST($2 AS \"pg_catalog\".\"text\"), CAST($3 AS bigint)"
                + " WHERE NOT EXISTS (SELECT 1 FROM \"public\".\"tomb\" WHERE table_name = $4 AND row_key = $5"
                + " AND version >= $3) ON CONFLICT (\"id\") DO UPDATE SET \"na\"\"me\" = EXCLUDED.\"na\"\"me\","
                + " \"v\" = EXCLUDED.\"v\" WHERE t.\"v\" IS NULL OR t.\"v\" < EXCLUDED.\"v\"");
    }

    @Test
    void deleteRemovesOnlyOlderRowsAndRaisesTheTombstone() {
        TargetTable table = table();
        String sql = Sql.delete(table, List.of(table.columns().get("id")), "\"public\".\"tomb\"");
        assertThat(sql).isEqualTo("WITH deleted AS (DELETE FROM \"public\".\"app_model\" WHERE"
                + " \"id\" = CAST($1 AS \"pg_catalog\".\"int8\") AND (\"v\" IS NULL OR \"v\" < $2))"
                + " INSERT INTO \"public\".\"tomb\" AS b (table_name, row_key, version) VALUES ($3, $4, CAST($2 AS bigint))"
                + " ON CONFLICT (table_name, row_key) DO UPDATE SET version = EXCLUDED.version"
                + " WHERE b.version < EXCLUDED.version");
    }

    @Test
    void djangoConventions() {
        assertThat(TargetTable.conventionalName("polls.Question")).isEqualTo("polls_question");
        assertThat(TargetTable.conventionalName("plain")).isEqualTo("plain");
        TargetTable table = table();
        assertThat(table.columnOf("question").name()).isEqualTo("question_id");
        assertThat(table.columnOf("id").name()).isEqualTo("id");
        assertThat(table.columnOf("v")).as("the version column is never a field's").isNull();
        assertThat(table.columnOf("missing")).isNull();
    }

    @Test
    void rowKeysAreDeterministic() {
        assertThat(Change.rowKey(Map.of("id", 5L))).isEqualTo("5");
        Map<String, Object> composite = new LinkedHashMap<>();
        composite.put("b", "x");
        composite.put("a", 1L);
        assertThat(Change.rowKey(composite)).isEqualTo("{\"a\":1,\"b\":\"x\"}");
    }

    static TargetTable table() {
        Map<String, TargetTable.Column> columns = new LinkedHashMap<>();
        columns.put("id", TargetTable.column("id", "pg_catalog", "int8", null));
        columns.put("na\"me", TargetTable.column("na\"me", "pg_catalog", "text", null));
        columns.put("question_id", TargetTable.column("question_id", "pg_catalog", "int8", null));
        columns.put("v", TargetTable.column("v", "pg_catalog", "int8", null));
        return new TargetTable("app.model", "public", "app_model", "v", columns, TableOverride.NONE);
    }
}
