package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.FileCheckpointStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The source without a server: its readiness from the slot's state, its options' checks. */
class PostgresCdcSourceTest {

    private static PostgresCdcSource source(Path dir) {
        return PostgresCdcSource.create(PostgresCdcOptions.of("shop", "r2dbc:postgresql://u@127.0.0.1:1/db",
                List.of("orders"), FileCheckpointStore.open(dir)));
    }

    @Test
    void readinessIsLostWhileTheSlotLagsPastMaxLagOrIsBeingInvalidated(@TempDir Path dir) {
        PostgresCdcSource source = source(dir);
        source.health(1000).block(Duration.ofSeconds(5));

        source.slotLagBytes = 1001;
        assertThatThrownBy(() -> source.health(1000).block(Duration.ofSeconds(5)))
                .hasMessageContaining("replication slot changepipe_shop lags 1001 bytes of WAL behind the server");

        source.slotLagBytes = 0;
        source.walStatus = "unreserved";
        assertThatThrownBy(() -> source.health(1000).block(Duration.ofSeconds(5)))
                .hasMessageContaining("replication slot changepipe_shop is unreserved");
    }

    @Test
    void namesThatWouldNeedQuotingAreRefusedWithTheirKey(@TempDir Path dir) {
        PostgresCdcOptions d = PostgresCdcOptions.of("shop", "r2dbc:postgresql://u@127.0.0.1:1/db", List.of("orders"),
                FileCheckpointStore.open(dir));
        assertThatThrownBy(() -> new PostgresCdcOptions(d.name(), d.url(), d.tables(), "Bad-Slot", d.publication(),
                true, true, 1, 1_000_000, 10, 10, d.linger(), d.statusInterval(), d.heartbeat(), d.checkpoints(), null, null, null))
                .hasMessageContaining("slot name 'Bad-Slot'");
        assertThatThrownBy(() -> new PostgresCdcOptions(d.name(), d.url(), List.of("public.orders; DROP"), d.slot(),
                d.publication(), true, true, 1, 1_000_000, 10, 10, d.linger(), d.statusInterval(), d.heartbeat(), d.checkpoints(), null, null, null))
                .hasMessageContaining("table 'public.orders; DROP'");
        assertThat(PostgresCdcOptions.defaultName("Shop-Orders")).isEqualTo("changepipe_shop_orders");
    }
}
