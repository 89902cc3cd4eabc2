package dev.changepipe.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link Settings#bind}: a section into a record, every problem at once with its path. */
class BindingTest {

    enum Mode { FOLLOW, SNAPSHOT_ONCE }

    record Table(@Key(value = "target table", required = true) String target, @Key("rows per insert") Integer batch) {
        Table {
            batch = batch == null ? 10 : batch;
        }
    }

    record Options(
            @Key(value = "the log", required = true) String path,
            @Key(value = "threads", min = 1, max = 64) Integer threads,
            @Key("how") Mode mode,
            @Key("poll") Duration poll,
            @Key("chunk") DataSize chunk,
            @Key("flag") Boolean flag,
            @Key("pk field per model") Map<String, String> pkFields,
            @Key("endpoints") List<String> endpoints,
            @Key("per table") Map<String, Table> tables) {
        Options {
            threads = threads == null ? 4 : threads;
            mode = mode == null ? Mode.FOLLOW : mode;
            poll = poll == null ? Duration.ofMillis(200) : poll;
            chunk = chunk == null ? DataSize.ofMebibytes(1) : chunk;
            flag = flag != null && flag;
            pkFields = pkFields == null ? Map.of() : pkFields;
            endpoints = endpoints == null ? List.of() : endpoints;
            tables = tables == null ? Map.of() : tables;
        }
    }

    private static Settings section(String yaml) throws Exception {
        return Settings.of("pipelines[0].source", new ObjectMapper(new YAMLFactory()).readTree(yaml));
    }

    @Test
    void aSectionBindsIntoARecordInTheConfigurationsOwnFormsWithDefaultsForAbsentKeys() throws Exception {
        Settings s = section("""
                type: x
                path: orders.log
                mode: snapshot-once
                poll: 1s
                chunk: 64MiB
                flag: "true"
                threads: "8"
                pkFields: {app.order: id}
                endpoints: http://a:8123
                tables: {orders: {target: t}}
                """);
        s.string("type");
        Options o = s.bind(Options.class);
        assertThat(o.path()).isEqualTo("orders.log");
        assertThat(o.mode()).isEqualTo(Mode.SNAPSHOT_ONCE);
        assertThat(o.poll()).isEqualTo(Duration.ofSeconds(1));
        assertThat(o.chunk().bytes()).isEqualTo(64L << 20);
        assertThat(o.flag()).isTrue();
        assertThat(o.threads()).isEqualTo(8);
        assertThat(o.pkFields()).containsEntry("app.order", "id");
        assertThat(o.endpoints()).containsExactly("http://a:8123");
        assertThat(o.tables().get("orders")).isEqualTo(new Table("t", 10));

        Options defaults = section("path: x").bind(Options.class);
        assertThat(defaults.threads()).isEqualTo(4);
        assertThat(defaults.poll()).isEqualTo(Duration.ofMillis(200));
    }

    @Test
    void everyProblemOfASectionIsReportedAtOnceWithItsPath() throws Exception {
        Settings s = section("""
                threads: 100
                mode: sideways
                poll: soon
                chunk: -1
                flag: maybe
                pkFields: {app.order: {nested: 1}}
                endpoints: {a: 1}
                tables: {orders: {batch: x}, items: [1]}
                pollInterval: 1s
                """);
        assertThatThrownBy(() -> s.bind(Options.class)).isInstanceOfSatisfying(ConfigException.class, e ->
                assertThat(e.problems()).extracting(ConfigException.Problem::toString).containsExactlyInAnyOrder(
                        "pipelines[0].source.path: required: the log",
                        "pipelines[0].source.threads: expected an integer from 1 to 64, got 100",
                        "pipelines[0].source.mode: expected one of follow, snapshot-once, got 'sideways'",
                        "pipelines[0].source.poll: expected a positive duration such as 500ms, 30s, 5m or PT1M, got 'soon'",
                        "pipelines[0].source.chunk: expected a positive size such as 64MiB, 512KiB or 1048576, got '-1'",
                        "pipelines[0].source.flag: expected true or false, got 'maybe'",
                        "pipelines[0].source.pkFields.app.order: expected a string, got a mapping",
                        "pipelines[0].source.endpoints: expected a string, got a mapping",
                        "pipelines[0].source.tables.orders.batch: expected an integer, got 'x'",
                        "pipelines[0].source.tables.orders.target: required: target table",
                        "pipelines[0].source.tables.items: expected a mapping (key: value), got a list",
                        "pipelines[0].source.pollInterval: unknown key; expected one of: chunk, endpoints, flag, mode,"
                                + " path, pkFields, poll, tables, threads"));
    }
}
