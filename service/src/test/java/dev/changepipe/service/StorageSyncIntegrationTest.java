package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.PostgresServer;
import dev.changepipe.testsupport.PostgresServerExtension;
import dev.changepipe.testsupport.RedisServer;
import dev.changepipe.testsupport.RedisServerExtension;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operations-storage path through the service, as a non-JVM application uses it: it registers
 * changed pks with {@code POST /api/operations}; the storage-sync source fetches the rows from
 * PostgreSQL and the pipeline writes them to ClickHouse, a Redis hot storage (read back through
 * {@code GET /api/hot/...}) and another PostgreSQL database.
 */
@ExtendWith({RedisServerExtension.class, PostgresServerExtension.class, ClickHouseServerExtension.class})
class StorageSyncIntegrationTest {

    @Test
    void operationsRegisteredOverHttpReachClickHouseHotStorageAndPostgres(RedisServer redis, PostgresServer pg,
            ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String app = pg.createDatabase("service_app");
        String replica = pg.createDatabase("service_replica");
        String table = "CREATE TABLE app_user (id bigint PRIMARY KEY, email text UNIQUE NOT NULL, name text)";
        pg.execute(app, table);
        pg.execute(replica, table);
        pg.execute(app, "INSERT INTO app_user VALUES (1, 'ada@example.com', 'Ada'), (2, 'bob@example.com', 'Bob'),"
                + " (3, 'cy@example.com', 'Cy')");
        String chDb = ch.createDatabase("service_sync");
        String prefix = "t" + UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, """
                http:
                  port: 0
                  portFile: %1$s/http.port
                  token: ${SERVICE_TOKEN}
                checkpoints:
                  directory: %1$s/checkpoints
                connections:
                  redis:
                    cache:
                      uri: %2$s
                  postgres:
                    app:
                      url: %3$s
                    replica:
                      url: %4$s
                  clickhouse:
                    analytics:
                      endpoints: ["%5$s"]
                      database: %6$s
                pipelines:
                  - name: users
                    source:
                      type: storage-sync
                      connection: cache
                      keyPrefix: %7$s_ops
                      importKeys:
                        app.user:
                          delay: 200ms
                      databases:
                        default: app
                    sinks:
                      - type: clickhouse
                        connection: analytics
                        tables:
                          app.user:
                            create:
                              columns: ["id UInt64", "email String", "name String"]
                              orderBy: [id]
                      - type: redis-hot-storage
                        connection: cache
                        keyPrefix: "%7$s_hot:"
                        uniqueConstraints:
                          app.user: [email]
                      - type: postgres
                        connection: replica
                """.formatted(dir, redis.uri(), pg.r2dbcUrl(app), pg.r2dbcUrl(replica), ch.httpUrl(), chDb, prefix));
        Map<String, String> env = Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN);
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"), env)) {
            String ops = "{\"importKey\": \"app.user\", \"operation\": \"insert\", \"pks\": [1, \"2\", 3]}";
            assertThat(service.post("/api/operations", null, ops).statusCode()).isEqualTo(401);
            HttpResponse<String> registered = service.post("/api/operations", ServiceUnderTest.TOKEN, ops);
            assertThat(registered.statusCode()).as(registered.body()).isEqualTo(200);
            assertThat(ServiceUnderTest.json(registered).get("registered").asLong()).isEqualTo(3);
            HttpResponse<String> unknownKey = service.post("/api/operations", ServiceUnderTest.TOKEN,
                    ops.replace("app.user", "app.nothing"));
            assertThat(unknownKey.statusCode()).isEqualTo(400);
            assertThat(ServiceUnderTest.json(unknownKey).get("error").asText()).contains("app.nothing");
            assertThat(service.post("/api/operations", ServiceUnderTest.TOKEN, ops.replace("insert", "upsert")).statusCode())
                    .isEqualTo(400);

            await().ignoreExceptions().atMost(Duration.ofSeconds(60)).until(() -> ch.execute(
                    "SELECT count() FROM " + chDb + ".app_user FINAL WHERE is_deleted = 0").trim().equals("3"));
            await().atMost(Duration.ofSeconds(30)).until(() -> service.get("/api/hot/users/app.user/2").statusCode() == 200);
            JsonNode bob = ServiceUnderTest.json(service.get("/api/hot/users/app.user/2"));
            assertThat(bob.get("fields").get("email").asText()).isEqualTo("bob@example.com");
            JsonNode ada = ServiceUnderTest.json(service.get("/api/hot/users/app.user?email=ada%40example.com"));
            assertThat(ada.get("key").get("id").asLong()).isEqualTo(1);
            assertThat(service.get("/api/hot/users/app.user/99").statusCode()).isEqualTo(404);
            assertThat(service.get("/api/hot/nope/app.user/1").statusCode()).isEqualTo(404);
            await().ignoreExceptions().atMost(Duration.ofSeconds(30)).until(() -> pg.execute(replica,
                    "SELECT string_agg(name, ',' ORDER BY id) FROM app_user").contains("Ada,Bob,Cy"));

            // a delete registered over HTTP becomes a tombstone everywhere
            pg.execute(app, "DELETE FROM app_user WHERE id = 3");
            assertThat(service.post("/api/operations", ServiceUnderTest.TOKEN,
                    "{\"importKey\": \"app.user\", \"operation\": \"delete\", \"pks\": [3]}").statusCode()).isEqualTo(200);
            await().ignoreExceptions().atMost(Duration.ofSeconds(60)).until(() -> ch.execute(
                    "SELECT count() FROM " + chDb + ".app_user FINAL WHERE is_deleted = 0").trim().equals("2"));
            await().atMost(Duration.ofSeconds(30)).until(() -> service.get("/api/hot/users/app.user/3").statusCode() == 404);
            await().ignoreExceptions().atMost(Duration.ofSeconds(30)).until(() -> !pg.execute(replica,
                    "SELECT string_agg(name, ',' ORDER BY id) FROM app_user").contains("Cy"));
            // a pk no row can have costs one dead letter of the source, which the status page counts
            assertThat(service.post("/api/operations", ServiceUnderTest.TOKEN,
                    "{\"importKey\": \"app.user\", \"operation\": \"update\", \"pks\": [\"abc\"]}").statusCode())
                    .isEqualTo(200);
            await().atMost(Duration.ofSeconds(30)).until(() -> service.pipeline("users").get("deadLetters").asLong() == 1);
            assertThat(service.pipeline("users").get("deadLettersByCause").toString()).contains("source/malformed");
            await().atMost(Duration.ofSeconds(30)).until(() -> service.get("/health/ready").statusCode() == 200);
            assertThat(service.terminate(Duration.ofSeconds(40))).isZero();
        }
    }
}
