package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.PipelineException;
import dev.changepipe.core.Sink;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.r2dbc.postgresql.PostgresqlConnectionConfiguration;
import io.r2dbc.postgresql.PostgresqlConnectionFactory;
import io.r2dbc.spi.ConnectionFactory;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.test.StepVerifier;

@ExtendWith({PostgresServerExtension.class, RedisServerExtension.class})
class PostgresUniqueConstraintsIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static ConnectionFactory factory;

    @BeforeAll
    static void createTables(PostgresServer postgres) {
        String db = postgres.createDatabase("hot_constraints");
        postgres.execute(db, """
                CREATE TABLE polls_question (id serial PRIMARY KEY, slug text UNIQUE, text text);
                CREATE TABLE polls_choice (
                    id serial PRIMARY KEY,
                    question_id int NOT NULL REFERENCES polls_question (id),
                    position int NOT NULL,
                    code text,
                    note text,
                    UNIQUE (question_id, position));
                CREATE UNIQUE INDEX choice_code_live ON polls_choice (code) WHERE note IS NULL;
                CREATE UNIQUE INDEX choice_lower_note ON polls_choice (lower(note));
                CREATE UNIQUE INDEX choice_code_incl ON polls_choice (code) INCLUDE (note);
                CREATE TABLE polls_vote (id serial PRIMARY KEY, n int);
                CREATE SCHEMA other;
                CREATE TABLE other.tag (id int PRIMARY KEY, name text NOT NULL UNIQUE);
                """);
        PostgresqlConnectionConfiguration.Builder config = PostgresqlConnectionConfiguration.builder()
                .host(postgres.host()).port(postgres.port()).username(postgres.user()).database(db);
        if (postgres.password() != null) {
            config.password(postgres.password());
        }
        factory = new PostgresqlConnectionFactory(config.build());
    }

    @Test
    void uniqueConstraintsAreReadFromTheCatalog() {
        Map<String, String> tables = new LinkedHashMap<>();
        for (String model : List.of("polls.question", "polls.choice", "polls.vote")) {
            tables.put(model, PostgresUniqueConstraints.djangoTable(model));
        }
        tables.put("other.tag", "other.tag");

        Map<String, List<UniqueConstraint>> django = PostgresUniqueConstraints.read(factory, tables, true).block(TIMEOUT);
        assertThat(django).containsOnlyKeys("polls.question", "polls.choice", "polls.vote", "other.tag");
        assertThat(django.get("polls.question")).containsExactly(UniqueConstraint.of("slug"));
        assertThat(django.get("polls.choice")).as("partial and expression indexes left out, INCLUDE columns too")
                .containsExactlyInAnyOrder(UniqueConstraint.of("question", "position"), UniqueConstraint.of("code"));
        assertThat(django.get("polls.vote")).isEmpty();
        assertThat(django.get("other.tag")).containsExactly(UniqueConstraint.of("name"));

        Map<String, List<UniqueConstraint>> columns = PostgresUniqueConstraints.read(factory, tables, false).block(TIMEOUT);
        assertThat(columns.get("polls.choice"))
                .containsExactlyInAnyOrder(UniqueConstraint.of("question_id", "position"), UniqueConstraint.of("code"));
    }

    @Test
    void aMissingTableFailsNamingIt() {
        StepVerifier.create(PostgresUniqueConstraints.read(factory, Map.of("polls.gone", "polls_gone"), true))
                .expectErrorSatisfies(e -> assertThat(e).isInstanceOf(PipelineException.class)
                        .hasMessageContaining("polls_gone").hasMessageContaining("does not exist"))
                .verify(TIMEOUT);
    }

    @Test
    void constraintsReadFromPostgresIndexTheHotStorage(RedisServer redis) {
        Map<String, List<UniqueConstraint>> constraints = PostgresUniqueConstraints
                .read(factory, Map.of("polls.choice", "polls_choice"), true).block(TIMEOUT);
        HotStorageOptions options = HotStorageOptions.builder()
                .keyPrefix(RedisKeyspace.uniquePrefix())
                .uniqueConstraints(constraints)
                .build();
        RedisClient client = RedisClient.create();
        try {
            RedisURI uri = RedisURI.create(redis.uri());
            Sink sink = RedisHotStorage.sink(client, uri, options);
            HotStorageLookup lookup = RedisHotStorage.lookup(client, uri, options);
            sink.write(Chunk.of("test", Offset.of(1), List.of(ChangeItem.insert("polls.choice", Map.of("id", 1L),
                    RedisHotStorageSinkIntegrationTest.fields("question", 5L, "position", 2L, "code", "c-1", "note", null), 1)),
                    false)).block(TIMEOUT);
            assertThat(lookup.getByUnique("polls.choice", Map.of("question", 5L, "position", 2L)).block(TIMEOUT).key())
                    .isEqualTo(Map.of("id", 1L));
            assertThat(lookup.find("polls.choice", Map.of("code", "c-1", "position", 2L)).block(TIMEOUT).version())
                    .isEqualTo(1);
            sink.close().then(lookup.close()).block(TIMEOUT);
        } finally {
            client.shutdown();
        }
    }
}
