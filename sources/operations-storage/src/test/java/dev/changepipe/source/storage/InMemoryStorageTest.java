package dev.changepipe.source.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.IdentityHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The storage contract against {@link InMemoryStorage}, on a clock the tests move. */
class InMemoryStorageTest implements OperationsStorageContract {

    private final Map<OperationsStorage, MutableClock> clocks = new IdentityHashMap<>();

    @Override
    public OperationsStorage storage() {
        MutableClock clock = new MutableClock(Instant.parse("2025-01-01T00:00:00Z"));
        InMemoryStorage storage = InMemoryStorage.create(StorageOptions.builder().allowFlush(true)
                .lockTimeout(Duration.ofSeconds(50)).build(), clock);
        clocks.put(storage, clock);
        return storage;
    }

    @Test
    void aRenewedLeaseOutlivesItsLockTimeout() {
        OperationsStorage s = storage();
        s.registerOperations("k", Operation.Type.INSERT, "1").block();
        SyncLease lease = s.preSync("k").block();
        for (int i = 0; i < 5; i++) {
            clocks.get(s).advance(Duration.ofSeconds(40));
            s.renew(lease).block();
        }
        assertThat(s.preSync("k").blockOptional()).isEmpty();
        assertThat(s.getOperations(lease, 10).block().size()).isEqualTo(1);
    }

    @Override
    public void putWithScore(OperationsStorage storage, String importKey, String member, double score) {
        ((InMemoryStorage) storage).putRaw(importKey, member, score);
    }

    @Override
    public void expireLock(OperationsStorage storage, String importKey) {
        clocks.get(storage).advance(Duration.ofSeconds(51));
    }

    @Override
    public double nowSeconds(OperationsStorage storage) {
        Instant now = clocks.get(storage).instant();
        return now.getEpochSecond() + now.getNano() / 1e9;
    }

    @Override
    public Double scoreOf(OperationsStorage storage, String importKey, String member) {
        return ((InMemoryStorage) storage).scoreOf(importKey, member);
    }

    /** A clock that stands still unless advanced: every registration falls in the same tick. */
    static final class MutableClock extends Clock {
        private volatile Instant now;

        MutableClock(Instant start) {
            this.now = start;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
