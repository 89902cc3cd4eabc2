package dev.changepipe.sink.redis;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

class RedisErrorsTest {

    @Test
    void transientFaultsAreRetryableAndPermanentOnesAreNot() {
        assertThat(RedisErrors.isRetryable(new RedisConnectionException("refused"))).isTrue();
        assertThat(RedisErrors.isRetryable(new CompletionException(new RedisCommandTimeoutException("slow")))).isTrue();
        assertThat(RedisErrors.isRetryable(new RedisCommandExecutionException("LOADING Redis is loading"))).isTrue();
        assertThat(RedisErrors.isRetryable(new RedisCommandExecutionException("BUSY Redis is busy running a script"))).isTrue();
        assertThat(RedisErrors.isRetryable(new RedisCommandExecutionException("OOM command not allowed"))).isTrue();
        assertThat(RedisErrors.isRetryable(new RedisCommandExecutionException("WRONGTYPE Operation against a key"))).isFalse();
        assertThat(RedisErrors.isRetryable(new RedisCommandExecutionException("HOTSTORAGE k does not hold a versioned object")))
                .isFalse();
        assertThat(RedisErrors.isRetryable(new IllegalStateException("bug"))).isFalse();
    }
}
