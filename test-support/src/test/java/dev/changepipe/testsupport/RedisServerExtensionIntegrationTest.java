package dev.changepipe.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(RedisServerExtension.class)
class RedisServerExtensionIntegrationTest {

  private static RedisServer serverBeforeAll;

  @BeforeAll
  static void rememberServer(RedisServer redis) {
    serverBeforeAll = redis;
  }

  @Test
  void setThenGetRoundTrips(RedisServer redis) {
    assertThat(redis.uri()).isEqualTo("redis://" + redis.host() + ":" + redis.port());
    RedisClient client = RedisClient.create(redis.uri());
    try (StatefulRedisConnection<String, String> connection = client.connect()) {
      RedisCommands<String, String> commands = connection.sync();
      // the server may be shared (PIPELINE_TEST_REDIS_URI): a key of our own, removed afterwards
      String key = "test-support:smoke:" + UUID.randomUUID();
      try {
        assertThat(commands.set(key, "hello")).isEqualTo("OK");
        assertThat(commands.get(key)).isEqualTo("hello");
      } finally {
        commands.del(key);
      }
    } finally {
      client.shutdown();
    }
  }

  @Test
  void everyResolutionGetsTheSameServer(RedisServer redis) {
    assertThat(redis).isEqualTo(serverBeforeAll);
  }
}
