package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.testsupport.DedicatedClickHouse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/**
 * ClickHouse stopped mid-stream and started again: the sink retries through the outage, and after
 * FINAL nothing is lost and nothing doubled. A dedicated server (restartable on the same port and
 * data), observed through a forwarding {@link FaultyProxy} that counts the sink's connection attempts.
 */
class ServerRestartIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final int CHUNKS = 40;
    private static final int ROWS = 500;
    private static final int KEYS = 3000; // fewer keys than rows: later chunks update earlier keys

    @ParameterizedTest
    @EnumSource(value = WriteMode.class, names = {"REPLACING", "COLLAPSING"})
    void clickHouseStoppedMidStreamAndStartedAgainLosesNothingAndDoublesNothingAfterFinal(WriteMode mode)
            throws Exception {
        try (DedicatedClickHouse dedicated = ClickHouseServerExtension.startDedicated();
                FaultyProxy proxy = new FaultyProxy(dedicated.server().httpPort())) {
            ClickHouseServer server = dedicated.server();
            String db = server.createDatabase("restart");
            ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                    .endpoints(proxy.url())
                    .database(db)
                    .table("app.event", TableOptions.builder().mode(mode)
                            .create(List.of("id UInt64", "payload String"), List.of("id")).build())
                    .backoff(Duration.ofMillis(20), Duration.ofMillis(200), 0.5)
                    .retryDeadline(Duration.ofMinutes(1))
                    .timeouts(Duration.ofSeconds(2), Duration.ofSeconds(20))
                    .build());
            List<CompletableFuture<Void>> restart = new ArrayList<>();
            long[] lastVersion = new long[KEYS];
            Flux.range(0, CHUNKS)
                    .concatMap(c -> {
                        if (c == CHUNKS / 2) {
                            dedicated.stop();
                            int seen = proxy.connections();
                            // start it again once the sink has tried (and failed) a few more times
                            restart.add(CompletableFuture.runAsync(() -> {
                                await().atMost(TIMEOUT).until(() -> proxy.connections() >= seen + 3);
                                dedicated.start();
                            }));
                        }
                        return sink.write(chunk(c, lastVersion));
                    })
                    .then(sink.close())
                    .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
            restart.get(0).get();

            String table = db + ".app_event";
            String expected = expected(lastVersion);
            assertThat(server.execute("SELECT id, payload FROM " + table + " FINAL"
                    + (mode == WriteMode.REPLACING ? " WHERE is_deleted = 0" : "")
                    + " ORDER BY id FORMAT TabSeparated")).isEqualTo(expected);
            assertThat(server.execute("SELECT count(), uniqExact(id) FROM " + table + " FINAL"
                    + " FORMAT TabSeparated")).isEqualTo(KEYS + "\t" + KEYS + "\n");
        }
    }

    private static Chunk chunk(int c, long[] lastVersion) {
        List<ChangeItem> items = new ArrayList<>(ROWS);
        for (int r = 0; r < ROWS; r++) {
            long n = (long) c * ROWS + r;
            int id = (int) (n % KEYS);
            lastVersion[id] = n + 1;
            items.add(ChangeItem.update("app.event", Map.of("id", (long) id),
                    Map.of("payload", "v" + (n + 1)), n + 1));
        }
        return Chunk.of("events.log", Offset.of(c), items, c == CHUNKS - 1);
    }

    private static String expected(long[] lastVersion) {
        StringBuilder b = new StringBuilder();
        for (int id = 0; id < KEYS; id++) {
            b.append(id).append("\tv").append(lastVersion[id]).append('\n');
        }
        return b.toString();
    }
}
