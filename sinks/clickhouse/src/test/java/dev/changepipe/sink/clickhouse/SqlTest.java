package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SqlTest {

    @Test
    void identifiersOfAnExpressionAreItsNamesNotItsFunctionsLiteralsOrNumbers() {
        assertThat(Sql.identifiersOf("toYYYYMM(created_date)")).containsExactly("created_date");
        assertThat(Sql.identifiersOf("id, `odd col`")).containsExactly("id", "odd col");
        assertThat(Sql.identifiersOf("(month, intHash32(id) % 4, id)")).containsExactly("month", "id");
        assertThat(Sql.identifiersOf("tuple()")).isEmpty();
        assertThat(Sql.identifiersOf("")).isEmpty();
        assertThat(Sql.identifiersOf("if(kind = 'a(b)', toDate(at), 1e5) , \"q\"\"x\", `b\\`q`"))
                .containsExactly("kind", "at", "q\"x", "b`q");
        assertThat(Sql.identifiersOf("toStartOfMonth (created)")).containsExactly("created");
    }
}
