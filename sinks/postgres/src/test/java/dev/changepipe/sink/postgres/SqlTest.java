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
    void upsertBindsEveryValueAsArraysAndGuardsByVersionAndTombstone() {
        TargetTable table = table();
        List<TargetTable.Column> columns = List.of(table.columns().get("id"), table.columns().get("na\"me"));
        Change.Shape shape = new Change.Shape("s", table, columns, List.of(table.columns().get("id")), true);
        assertThat(Sql.upsert(shape, "\"public\".\"tomb\"")).isEqualTo(
                "INSERT INTO \"public\".\"app_model\" AS t (\"id\", \"na\"\"me\", \"v\") SELECT"
                + " CAST(u.p1 AS \"pg_catalog\".\"int8\"), CAST(u.p2 AS \"pg_catalog\".\"text\"), u.version"
                + " FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS bigint[]), CAST($4 AS text[]))"
                + " WITH ORDINALITY AS u(p1, p2, version, row_key, ord)"
                + " WHERE NOT EXISTS (SELECT 1 FROM \"public\".\"tomb\" AS b WHERE b.table_name = CAST($5 AS text)"
                + " AND b.row_key = u.row_key AND b.version >= u.version) ORDER BY u.ord ON CONFLICT (\"id\")"
                + " DO UPDATE SET \"na\"\"me\" = EXCLUDED.\"na\"\"me\", \"v\" = EXCLUDED.\"v\""
                + " WHERE t.\"v\" IS NULL OR t.\"v\" < EXCLUDED.\"v\"");
    }

    @Test
    void deleteRemovesOnlyOlderRowsAndRaisesTheTombstone() {
        TargetTable table = table();
        List<TargetTable.Column> key = List.of(table.columns().get("id"));
        Change.Shape shape = new Change.Shape("d", table, key, key, false);
        assertThat(Sql.delete(shape, "\"public\".\"tomb\"")).isEqualTo(
                "WITH v AS (SELECT CAST(u.p1 AS \"pg_catalog\".\"int8\") AS p1, u.version, u.row_key"
                + " FROM unnest(CAST($1 AS text[]), CAST($2 AS bigint[]), CAST($3 AS text[])) AS u(p1, version, row_key)),"
                + " deleted AS (DELETE FROM \"public\".\"app_model\" AS t USING v WHERE t.\"id\" = v.p1"
                + " AND (t.\"v\" IS NULL OR t.\"v\" < v.version))"
                + " INSERT INTO \"public\".\"tomb\" AS b (table_name, row_key, version) SELECT CAST($4 AS text),"
                + " v.row_key, v.version FROM v ON CONFLICT (table_name, row_key) DO UPDATE SET version = EXCLUDED.version"
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
