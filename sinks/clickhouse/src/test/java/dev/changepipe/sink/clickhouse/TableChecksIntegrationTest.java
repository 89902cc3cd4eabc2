package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import reactor.test.StepVerifier;

/** What the sink checks (and creates) when it first reads a table, before writing anything into it. */
@ExtendWith(ClickHouseServerExtension.class)
class TableChecksIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String TABLE = "polls.choice";

    private final ClickHouseServer clickhouse;
    private String database;
    private ClickHouseSink sink;

    TableChecksIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @BeforeEach
    void createDatabase() {
        database = clickhouse.createDatabase("checks");
    }

    @AfterEach
    void closeSink() {
        if (sink != null) {
            sink.close().block(TIMEOUT);
        }
    }

    private ClickHouseSink sink(WriteMode mode) {
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .table(TABLE, TableOptions.builder().mode(mode).build())
                .build());
        return sink;
    }

    /** django-clickhouse documents a UInt32 version column as allowed; versions would wrap in it. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "REPLACING  | version UInt32, is_deleted UInt8 | ReplacingMergeTree(version)            | version | UInt32",
            "COLLAPSING | version UInt32, sign Int8        | CollapsingMergeTree(sign)              | version | UInt32",
            "REPLACING  | version DateTime, is_deleted UInt8 | ReplacingMergeTree(version)          | version | DateTime",
            "APPEND     | version Int32                    | MergeTree                              | version | Int32",
            "COLLAPSING | version UInt64, sign UInt8       | MergeTree                              | sign    | UInt8"})
    void aVersionOrSignColumnTooNarrowIsRefusedAtStartNamingTableColumnAndTypes(WriteMode mode, String columns,
            String engine, String column, String type) {
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice (id UInt64, created_date Date, votes Int32, "
                + columns + ") ENGINE = " + engine + " PARTITION BY toYYYYMM(created_date) ORDER BY id");
        sink(mode).write(chunk(1, save(TABLE, 1, 5_000_000_000L, "votes", 3L, "created_date", "2024-01-02")))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class)
                            .hasMessageContaining("table polls_choice")
                            .hasMessageContaining(database + ".polls_choice")
                            .hasMessageContaining("column " + column + " has type " + type)
                            .hasMessageContaining(column.equals("sign") ? "needs Int8" : "needs UInt64 (or Int64)");
                    assertThat(((ClickHouseWriteException) e).isRetryable()).isFalse();
                })
                .verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT count() FROM " + database + ".polls_choice")).isEqualTo("0\n");
    }

    @ParameterizedTest
    @CsvSource({"REPLACING", "COLLAPSING", "APPEND"})
    void aMissingDatabaseIsCreatedWhenTheSinkCreatesTables(WriteMode mode) {
        String missing = database + "_new";
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(missing)
                .table(TABLE, TableOptions.builder().mode(mode)
                        .create(List.of("id UInt64", "votes Int32"), List.of("id")).build())
                .build());
        try {
            sink.write(chunk(1, save(TABLE, 1, 10, "votes", 3L), save(TABLE, 2, 11, "votes", 4L)))
                    .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
            assertThat(clickhouse.execute("SELECT id, votes FROM " + missing + ".polls_choice ORDER BY id"))
                    .isEqualTo("1\t3\n2\t4\n");
        } finally {
            clickhouse.execute("DROP DATABASE IF EXISTS " + missing);
        }
    }

    @Test
    void aMissingDatabaseIsAPermanentErrorNamingItWhenTheSinkDoesNotCreateTables() {
        String missing = database + "_absent";
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(missing)
                .build());
        sink.write(chunk(1, save(TABLE, 1, 10, "votes", 3L)))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class)
                            .hasMessageContaining("database " + missing + " does not exist")
                            .hasMessageContaining("table polls_choice")
                            .hasMessageContaining("source table " + TABLE);
                    assertThat(((ClickHouseWriteException) e).isRetryable()).isFalse();
                    assertThat(((ClickHouseWriteException) e).errorCode()).isEqualTo(81);
                })
                .verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT count() FROM system.databases WHERE name = '" + missing + "'"))
                .isEqualTo("0\n");
    }
}
