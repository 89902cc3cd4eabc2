package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.PipelineException;
import io.r2dbc.spi.R2dbcBadGrammarException;
import io.r2dbc.spi.R2dbcDataIntegrityViolationException;
import io.r2dbc.spi.R2dbcNonTransientResourceException;
import io.r2dbc.spi.R2dbcRollbackException;
import io.r2dbc.spi.R2dbcTransientResourceException;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class FaultsTest {

    @Test
    void transientFaultsAreRetryable() {
        assertThat(Faults.isRetryable(new R2dbcRollbackException("serialization", "40001"))).isTrue();
        assertThat(Faults.isRetryable(new R2dbcRollbackException("deadlock", "40P01"))).isTrue();
        assertThat(Faults.isRetryable(new R2dbcNonTransientResourceException("terminating", "57P01"))).isTrue();
        assertThat(Faults.isRetryable(new R2dbcNonTransientResourceException("connection closed"))).isTrue();
        assertThat(Faults.isRetryable(new R2dbcTransientResourceException("refused", "08001"))).isTrue();
        assertThat(Faults.isRetryable(new RuntimeException(new IOException("reset")))).isTrue();
    }

    @Test
    void permanentFaultsAreNot() {
        assertThat(Faults.isRetryable(new R2dbcBadGrammarException("no table", "42P01"))).isFalse();
        assertThat(Faults.isRetryable(new R2dbcDataIntegrityViolationException("dup", "23505"))).isFalse();
        assertThat(Faults.isRetryable(new R2dbcNonTransientResourceException("password", "28P01"))).isFalse();
        assertThat(Faults.isRetryable(new IllegalStateException("bug"))).isFalse();
    }

    @Test
    void wrapNamesTableAndState() {
        PipelineException e = Faults.wrap("pg", "app.model", "applying", new R2dbcRollbackException("deadlock", "40P01"));
        assertThat(e.getMessage()).isEqualTo("sink pg, table app.model: applying failed (SQLSTATE 40P01): deadlock");
        assertThat(e.isRetryable()).isTrue();
        assertThat(Faults.wrap("pg", null, "x", e)).isSameAs(e);
    }
}
