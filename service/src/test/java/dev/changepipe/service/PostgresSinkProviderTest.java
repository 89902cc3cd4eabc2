package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.OnBadRecord;
import dev.changepipe.sink.postgres.PostgresSink;
import dev.changepipe.sink.postgres.PostgresSinkOptions;
import dev.changepipe.sink.postgres.PostgresSinkProvider;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PostgresSinkProviderTest {

    @TempDir
    Path dir;

    private Components components;

    private PostgresSinkOptions optionsOf(String sinkKeys) {
        ServiceConfig config = new ConfigLoader(Map.<String, String>of()::get).parse("""
                connections:
                  postgres:
                    main:
                      url: r2dbc:postgresql://app:secret@127.0.0.1:5432/app
                pipelines:
                  - name: polls
                    source: {type: oplog-file, path: polls.log}
                    sinks:
                      - type: postgres
                        connection: main
                %s""".formatted(sinkKeys.indent(8)));
        components = new Components(config, dir, new SimpleMeterRegistry(), getClass().getClassLoader());
        Settings s = Components.section(config.pipelines().get(0).sinks().get(0));
        s.string("type");
        PostgresSink sink = (PostgresSink) new PostgresSinkProvider().create(s, components.context("polls"));
        sink.close().block();
        return sink.options();
    }

    @Test
    void badRecordsGoToThePipelinesDeadLettersUnlessOnBadRecordIsFail() {
        PostgresSinkOptions defaults = optionsOf("");
        assertThat(defaults.onBadRecord()).isEqualTo(OnBadRecord.DEAD_LETTER);
        assertThat(defaults.deadLetters()).isSameAs(components.context("polls").deadLetters());
        assertThat(defaults.deadLetters().pipeline()).isEqualTo("polls");
        assertThat(optionsOf("onBadRecord: fail\n").onBadRecord()).isEqualTo(OnBadRecord.FAIL);
        assertThat(optionsOf("onBadRecord: dead-letter\n").onBadRecord()).isEqualTo(OnBadRecord.DEAD_LETTER);
    }

    @Test
    void anUnknownOnBadRecordIsAnErrorNamingTheKey() {
        assertThatThrownBy(() -> optionsOf("onBadRecord: skip\n")).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).singleElement().satisfies(p -> {
                    assertThat(p.path()).isEqualTo("pipelines[0].sinks[0].onBadRecord");
                    assertThat(p.message()).contains("dead-letter, fail");
                }));
    }
}
