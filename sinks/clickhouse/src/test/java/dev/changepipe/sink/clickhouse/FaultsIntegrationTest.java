package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import reactor.test.StepVerifier;

/**
 * Transient faults against a real ClickHouse behind {@link FaultyProxy}: connection resets, bare 500s and
 * "too many parts" are retried (with short real backoffs: the retry timing itself is tested in virtual
 * time by {@code RetryingTest}) and the data ends up written once; endpoints fail over.
 */
@ExtendWith(ClickHouseServerExtension.class)
class FaultsIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "app.item";

    private final ClickHouseServer clickhouse;
    private String db;
    private FaultyProxy proxy;
    private ClickHouseSink sink;

    FaultsIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void setUp() throws Exception {
        db = clickhouse.createDatabase("faults");
        clickhouse.execute("CREATE TABLE " + db + ".app_item (id UInt64, name String, version UInt64, is_deleted UInt8)"
                + " ENGINE = ReplacingMergeTree(version) ORDER BY id");
        proxy = new FaultyProxy(clickhouse.httpPort());
    }

    @AfterEach
    void tearDown() throws Exception {
        if (sink != null) {
            sink.close().block(TIMEOUT);
        }
        proxy.close();
    }

    private ClickHouseSink sink(Duration deadline, String... endpoints) {
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(endpoints)
                .database(db)
                .backoff(Duration.ofMillis(5), Duration.ofMillis(20), 0.5)
                .retryDeadline(deadline)
                .timeouts(Duration.ofSeconds(2), Duration.ofSeconds(10))
                .build());
        return sink;
    }

    private String rows() {
        return clickhouse.execute("SELECT id, name FROM " + db + ".app_item ORDER BY id FORMAT TabSeparated");
    }

    @Test
    void transientFaultsConnectionResetHttp500AndTooManyPartsAreRetriedAndWriteOnce() {
        // the first connections fail in turn: the version query, then the column read and the insert
        proxy.plan(FaultyProxy.Fault.RESET, FaultyProxy.Fault.HTTP_500, FaultyProxy.Fault.TOO_MANY_PARTS,
                FaultyProxy.Fault.RESET, FaultyProxy.Fault.HTTP_500);
        sink(Duration.ofSeconds(30), proxy.url());
        sink.write(chunk(1, save(TABLE, 1, 1, "name", "a"), save(TABLE, 2, 1, "name", "b")))
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(proxy.planUsedUp()).isTrue();
        assertThat(rows()).isEqualTo("1\ta\n2\tb\n");
    }

    @Test
    void transientFaultsAreRetryableErrorsWithTheStatusOnceTheDeadlineIsReached() {
        proxy.plan(FaultyProxy.Fault.HTTP_500);
        sink(Duration.ZERO, proxy.url());
        sink.write(chunk(1, save(TABLE, 1, 1, "name", "a")))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isTrue();
                    assertThat(c.httpStatus()).isEqualTo(500);
                    assertThat(c.errorCode()).isZero();
                })
                .verify(TIMEOUT);
        proxy.plan(FaultyProxy.Fault.TOO_MANY_PARTS);
        sink.write(chunk(1, save(TABLE, 1, 1, "name", "a")))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isTrue();
                    assertThat(c.errorCode()).isEqualTo(252);
                    assertThat(c.getMessage()).contains("Too many parts");
                })
                .verify(TIMEOUT);
    }

    @Test
    void failoverToTheNextEndpointWhenOneRefusesConnections() throws Exception {
        int dead;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = s.getLocalPort(); // closed again: connections are refused
        }
        sink(Duration.ofSeconds(30), "http://127.0.0.1:" + dead, clickhouse.httpUrl());
        sink.write(chunk(1, save(TABLE, 1, 1, "name", "a")))
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        sink.write(chunk(2, save(TABLE, 2, 2, "name", "b")))
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(rows()).isEqualTo("1\ta\n2\tb\n");
    }
}
