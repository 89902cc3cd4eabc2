package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.core.Sink;
import dev.changepipe.sink.redis.HotStorageOptions;
import dev.changepipe.sink.redis.RedisHotStorageSinkProvider;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RedisHotStorageSinkProviderTest {

    @TempDir
    Path dir;

    private Components components;
    private Settings section;

    private HotStorageOptions optionsOf(String sinkKeys) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                connections:
                  redis:
                    main:
                      uri: redis://127.0.0.1:6379
                pipelines:
                  - name: polls
                    source: {type: oplog-file, path: polls.log}
                    sinks:
                      - type: redis-hot-storage
                        connection: main
                %s""".formatted(sinkKeys.indent(8)));
        components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        section = Components.section(config.pipelines().get(0).sinks().get(0));
        section.string("type");
        return RedisHotStorageSinkProvider.target(section, components.context("polls")).options();
    }

    @Test
    void badRecordsGoToThePipelinesDeadLettersUnlessOnBadRecordIsFail() {
        HotStorageOptions defaults = optionsOf("");
        assertThat(defaults.onBadRecord()).isEqualTo(OnBadRecord.DEAD_LETTER);
        assertThat(defaults.deadLetters()).isSameAs(components.context("polls").deadLetters());
        assertThat(optionsOf("onBadRecord: fail\n").onBadRecord()).isEqualTo(OnBadRecord.FAIL);
        assertThatThrownBy(() -> optionsOf("onBadRecord: skip\n")).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).singleElement().satisfies(p ->
                        assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].onBadRecord")));
    }

    @Test
    void theServiceSinkKeepsTwoWritesInFlightAndWritesBatchesAsOne() throws Exception {
        optionsOf("");
        Sink sink = new RedisHotStorageSinkProvider().create(section, components.context("polls"));
        try {
            assertThat(sink.maxWritesInFlight()).isEqualTo(2);
            assertThat(sink.getClass().getMethod("writeBatch", java.util.List.class).getDeclaringClass())
                    .isNotEqualTo(Sink.class);
        } finally {
            sink.close().block();
        }
    }
}
