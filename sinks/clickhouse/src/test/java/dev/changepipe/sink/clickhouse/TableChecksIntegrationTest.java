package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.delete;
import static dev.changepipe.sink.clickhouse.Items.save;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import dev.changepipe.core.ChangeItem;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import reactor.test.StepVerifier;

/**
 * What the sink checks (and creates) when it first reads a table, before writing anything into it: the
 * engine and the columns of the mode; a table that does not fit is refused with the statements that
 * migrate it, and those statements, run on the server, make it fit.
 */
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
    @CsvSource(delimiter = '|', value = {
            "REPLACING  | version UInt32, is_deleted UInt8   | ReplacingMergeTree(version)",
            "COLLAPSING | version UInt32, sign Int8          | CollapsingMergeTree(sign)",
            "REPLACING  | version DateTime, is_deleted UInt8 | ReplacingMergeTree(version)",
            "COLLAPSING | version UInt64, sign UInt8         | MergeTree"})
    void theStatementsPrintedForANarrowColumnWidenItAndTheWriteThenSucceeds(WriteMode mode, String columns,
            String engine) {
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice (id UInt64, created_date Date, votes Int32, "
                + columns + ") ENGINE = " + engine + " PARTITION BY toYYYYMM(created_date) ORDER BY id");
        ChangeItem item = save(TABLE, 1, 5_000_000_000L, "votes", 3L, "created_date", "2024-01-02");
        runStatements(refusal(sink(mode), item));
        sink.write(chunk(2, item)).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT id, votes, version FROM " + database + ".polls_choice FINAL"))
                .isEqualTo("1\t3\t5000000000\n");
    }

    /**
     * The tables django-clickhouse's migrations make: a replacing model as {@code ReplacingMergeTree()}
     * without a version column (its handover used to add {@code version} and {@code is_deleted} columns
     * only, which leaves FINAL keeping any row), a collapsing model as {@code CollapsingMergeTree(sign)}
     * with a {@code UInt32} version. Both are refused before anything is written; after the printed
     * statements, the rows django-clickhouse wrote and the sink's creates, updates and deletes end equal
     * to the source after FINAL.
     */
    @ParameterizedTest
    @CsvSource({"REPLACING", "COLLAPSING"})
    void djangoClickHouseTablesAreRefusedUntilMigratedAndThenEndEqualToTheSource(WriteMode mode) {
        boolean replacing = mode == WriteMode.REPLACING;
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice (id UInt64, created_date Date, votes Int32"
                + (replacing ? ") ENGINE = ReplacingMergeTree()" : ", version UInt32, sign Int8) ENGINE = "
                + "CollapsingMergeTree(sign)") + " PARTITION BY toYYYYMM(created_date) ORDER BY id");
        Map<Long, String> source = new TreeMap<>(); // id -> "created_date\tvotes", as the source holds it
        StringBuilder synced = new StringBuilder(); // what django-clickhouse synced before the handover
        for (long id = 1; id <= 6; id++) {
            String date = "2024-0" + (1 + id % 3) + "-1" + id;
            source.put(id, date + "\t" + id);
            synced.append(synced.length() == 0 ? "" : ",").append("(").append(id).append(", '").append(date)
                    .append("', ").append(id).append(replacing ? ")" : ", 1, 1)");
        }
        clickhouse.execute("INSERT INTO " + database + ".polls_choice VALUES " + synced);
        clickhouse.execute("INSERT INTO " + database + ".polls_choice VALUES " + (replacing ? "(2, '2024-03-12', 20)"
                : "(2, '2024-03-12', 2, 1, -1), (2, '2024-03-12', 20, 2, 1)"));
        source.put(2L, "2024-03-12\t20");

        String message = refusal(sink(mode), save(TABLE, 1, 5_000_000_001L, "votes", 10L, "created_date", "2024-02-11"));
        assertThat(message).contains(database + ".polls_choice does not fit the " + mode.name().toLowerCase() + " mode");
        if (replacing) {
            assertThat(message).contains("its engine is ReplacingMergeTree() without a version column")
                    .contains("CREATE TABLE `" + database + "`.`polls_choice__changepipe_new`")
                    .contains("ENGINE = ReplacingMergeTree(`version`) PARTITION BY toYYYYMM(created_date) ORDER BY id")
                    .contains("INSERT INTO `" + database + "`.`polls_choice__changepipe_new`")
                    .contains("RENAME TABLE `" + database + "`.`polls_choice` TO `" + database
                            + "`.`polls_choice__changepipe_old`, `" + database + "`.`polls_choice__changepipe_new` TO `"
                            + database + "`.`polls_choice`");
        } else {
            assertThat(message).contains("column version has type UInt32")
                    .contains("ALTER TABLE `" + database + "`.`polls_choice` MODIFY COLUMN `version` UInt64");
        }
        assertThat(clickhouse.execute("SELECT count() FROM " + database + ".polls_choice"))
                .isEqualTo(replacing ? "7\n" : "8\n");
        runStatements(message);

        long v = 5_000_000_000L;
        List<List<ChangeItem>> changes = List.of(
                List.of(save(TABLE, 1, ++v, "votes", 10L, "created_date", "2024-02-11"),
                        save(TABLE, 7, ++v, "votes", 7L, "created_date", "2024-01-17"),
                        delete(TABLE, 3, ++v)),
                List.of(save(TABLE, 7, ++v, "votes", 70L, "created_date", "2024-01-17"),
                        save(TABLE, 8, ++v, "votes", 8L, "created_date", "2024-03-18"),
                        delete(TABLE, 2, ++v), delete(TABLE, 4, ++v)),
                List.of(delete(TABLE, 8, ++v), save(TABLE, 5, ++v, "votes", 50L, "created_date", "2024-03-15"),
                        delete(TABLE, 6, ++v)),
                List.of(save(TABLE, 6, ++v, "votes", 66L, "created_date", "2024-01-16")));
        long offset = 10;
        for (List<ChangeItem> items : changes) {
            sink.write(chunk(offset++, items.toArray(ChangeItem[]::new))).as(StepVerifier::create).expectComplete()
                    .verify(TIMEOUT);
            for (ChangeItem item : items) {
                long id = (Long) item.key().get("id");
                if (item.kind().isSave()) {
                    source.put(id, item.values().get("created_date") + "\t" + item.values().get("votes"));
                } else {
                    source.remove(id);
                }
            }
        }
        StringBuilder expected = new StringBuilder();
        source.forEach((id, row) -> expected.append(id).append('\t').append(row).append('\n'));
        String visible = "SELECT id, created_date, votes FROM " + database + ".polls_choice FINAL"
                + (replacing ? " WHERE is_deleted = 0" : "") + " ORDER BY id";
        assertThat(clickhouse.execute(visible)).isEqualTo(expected.toString());
        clickhouse.execute("OPTIMIZE TABLE " + database + ".polls_choice FINAL");
        assertThat(clickhouse.execute(visible)).isEqualTo(expected.toString());
    }

    /** Engines and columns that do not fit: refused, nothing written; the printed statements make them fit. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "REPLACING  | , version UInt64, is_deleted UInt8 | ReplacingMergeTree(created_date, (id), 8192)",
            "REPLACING  | , updated UInt64, version UInt64, is_deleted UInt8 | ReplacingMergeTree(updated) PARTITION BY toYYYYMM(created_date) ORDER BY id",
            "REPLACING  | , version UInt64, sign Int8        | CollapsingMergeTree(sign) PARTITION BY toYYYYMM(created_date) ORDER BY id",
            "REPLACING  | , version UInt64                   | MergeTree PARTITION BY toYYYYMM(created_date) ORDER BY id",
            "REPLACING  | , version UInt64                   | ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date) ORDER BY id",
            "REPLACING  | , version UInt32, is_deleted UInt8 | ReplacingMergeTree(created_date, (id), 8192, version)",
            "COLLAPSING | , version UInt64, is_deleted UInt8 | ReplacingMergeTree(version) PARTITION BY toYYYYMM(created_date) ORDER BY id",
            "COLLAPSING | , version UInt32, sign Int8        | CollapsingMergeTree(created_date, (id), 8192, sign)",
            "COLLAPSING | , sign Int8                        | CollapsingMergeTree(sign) ORDER BY (id, created_date) SAMPLE BY id",
            "COLLAPSING | , version UInt64, sign Int8, month Date MATERIALIZED toStartOfMonth(created_date) | VersionedCollapsingMergeTree(sign, version) PARTITION BY month ORDER BY (id, version)"})
    void aTableThatDoesNotFitIsRefusedAndThePrintedStatementsMakeItFit(WriteMode mode, String columns, String engine) {
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice (id UInt64, created_date Date, votes Int32"
                + columns + ") ENGINE = " + engine);
        boolean signed = columns.contains("sign Int8");
        clickhouse.execute("INSERT INTO " + database + ".polls_choice (id, created_date, votes" + (signed ? ", sign" : "")
                + ") VALUES (1, '2024-01-05', 1" + (signed ? ", 1" : "") + ")");
        String message = refusal(sink(mode), save(TABLE, 1, 7, "votes", 3L, "created_date", "2024-01-05"),
                save(TABLE, 2, 8, "votes", 4L, "created_date", "2024-02-05"));
        assertThat(message).contains(database + ".polls_choice does not fit the " + mode.name().toLowerCase() + " mode");
        assertThat(clickhouse.execute("SELECT count() FROM " + database + ".polls_choice")).isEqualTo("1\n");
        runStatements(message);
        sink.write(chunk(2, save(TABLE, 1, 7, "votes", 3L, "created_date", "2024-01-05"),
                save(TABLE, 2, 8, "votes", 4L, "created_date", "2024-02-05"))).as(StepVerifier::create)
                .expectComplete().verify(TIMEOUT);
        sink.write(chunk(3, delete(TABLE, 2, 9), save(TABLE, 1, 10, "votes", 5L, "created_date", "2024-01-05")))
                .as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT id, votes FROM " + database + ".polls_choice FINAL"
                + (mode == WriteMode.REPLACING ? " WHERE is_deleted = 0" : "") + " ORDER BY id")).isEqualTo("1\t5\n");
    }

    /**
     * As a {@link dev.changepipe.spi.TableHandover} (what the operations storage's handover command asks):
     * taking over, every table that does not fit is one problem with its migration; once migrated, each
     * fits; handing back, a replacing table needs the statement after which version-less inserts win.
     */
    @Test
    void asATableHandoverItFindsEveryRefusalThenTheFitAndTheVersionDefaultToRun() {
        for (String table : List.of("polls_choice", "polls_question")) {
            clickhouse.execute("CREATE TABLE " + database + "." + table + " (id UInt64, created_date Date, votes Int32) "
                    + "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(created_date) ORDER BY id");
        }
        List<String> tables = List.of(TABLE, "polls.question");
        var refused = sink(WriteMode.REPLACING).takeOver(tables).block(TIMEOUT);
        assertThat(refused).hasSize(2).allSatisfy(f -> {
            assertThat(f.problem()).isTrue();
            assertThat(f.statements()).isEmpty();
        });
        assertThat(refused.get(0).text()).contains(database + ".polls_choice does not fit the replacing mode");
        assertThat(refused.get(1).text()).contains(database + ".polls_question does not fit the replacing mode");
        refused.forEach(f -> runStatements(f.text()));

        var fits = sink.takeOver(tables).block(TIMEOUT);
        assertThat(fits).extracting(f -> f.text() + " " + f.problem()).containsExactly(
                "table " + database + ".polls_choice fits (replacing) false",
                "table " + database + ".polls_question fits (replacing) false");

        sink.write(chunk(1, save(TABLE, 1, 41, "votes", 3L, "created_date", "2024-01-05"))).as(StepVerifier::create)
                .expectComplete().verify(TIMEOUT);
        var back = sink.handBack(List.of(TABLE), "django-clickhouse").block(TIMEOUT);
        assertThat(back).hasSize(1);
        assertThat(back.get(0).problem()).isFalse();
        assertThat(back.get(0).text()).isEqualTo("table " + database + ".polls_choice: django-clickhouse's inserts "
                + "carry no version; before starting its sync, run:");
        assertThat(back.get(0).statements()).singleElement().asString()
                .startsWith("ALTER TABLE ").contains("MODIFY COLUMN `version` UInt64 DEFAULT 42");
    }

    @Test
    void theStatementsQuoteOddTableAndColumnNames() {
        String target = "odd `name";
        clickhouse.execute("CREATE TABLE " + database + ".`odd \\`name` (id UInt64, `created date` Date, `vo tes` Int32)"
                + " ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(`created date`) ORDER BY id");
        sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .versionColumn("ver sion")
                .table(TABLE, TableOptions.builder().target(target).build())
                .build());
        ChangeItem item = save(TABLE, 1, 7, "vo tes", 3L, "created date", "2024-01-05");
        String message = refusal(sink, item);
        assertThat(message).contains("table " + database + ".odd `name does not fit")
                .contains("`odd \\`name__changepipe_new`").contains("ReplacingMergeTree(`ver sion`)");
        runStatements(message);
        sink.write(chunk(2, item)).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT id, `vo tes`, `ver sion` FROM " + database + ".`odd \\`name` FINAL"))
                .isEqualTo("1\t3\t7\n");
    }

    /** A Distributed table is checked through to its local table (here on the same server). */
    @Test
    void aDistributedTableIsCheckedOnItsLocalTableAndThePrintedStatementsMigrateThat() {
        Assumptions.assumeTrue(clickhouse.execute("SELECT count() FROM system.clusters WHERE cluster = '"
                + dev.changepipe.testsupport.ClickHouseServerExtension.LOCAL_CLUSTER + "'").trim().equals("1"),
                "the server has the one-shard cluster of the test servers");
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice_local (id UInt64, created_date Date, votes Int32,"
                + " version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(created_date)"
                + " ORDER BY id");
        clickhouse.execute("CREATE TABLE " + database + ".polls_choice AS " + database + ".polls_choice_local"
                + " ENGINE = Distributed(" + dev.changepipe.testsupport.ClickHouseServerExtension.LOCAL_CLUSTER + ", "
                + database + ", polls_choice_local, rand())");
        String message = refusal(sink(WriteMode.REPLACING), save(TABLE, 1, 7, "votes", 3L, "created_date", "2024-01-05"));
        assertThat(message).contains("table " + database + ".polls_choice is Distributed(")
                .contains("writes into " + database + ".polls_choice_local")
                .contains("CREATE TABLE `" + database + "`.`polls_choice_local__changepipe_new`")
                .contains("on every shard of the cluster");
        runStatements(message);
        sink.write(chunk(2, save(TABLE, 1, 7, "votes", 3L, "created_date", "2024-01-05"),
                save(TABLE, 2, 8, "votes", 4L, "created_date", "2024-02-05"))).as(StepVerifier::create)
                .expectComplete().verify(TIMEOUT);
        await().atMost(TIMEOUT).until(() -> clickhouse.execute("SELECT id, votes FROM " + database
                + ".polls_choice_local FINAL WHERE is_deleted = 0 ORDER BY id").equals("1\t3\n2\t4\n"));
    }

    /** Writes the items and returns the message of the refusal, asserting it is a permanent error. */
    private String refusal(ClickHouseSink sink, ChangeItem... items) {
        String[] message = new String[1];
        sink.write(chunk(1, items)).as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class);
                    assertThat(((ClickHouseWriteException) e).isRetryable()).isFalse();
                    message[0] = e.getMessage();
                })
                .verify(TIMEOUT);
        return message[0];
    }

    /** Runs the statements a refusal prints (the lines that end with a semicolon), in order. */
    private void runStatements(String message) {
        List<String> statements = new ArrayList<>();
        for (String line : message.split("\n")) {
            if (line.endsWith(";") && line.matches("(CREATE|INSERT|RENAME|ALTER) .*")) {
                statements.add(line.substring(0, line.length() - 1));
            }
        }
        assertThat(statements).as("statements in: " + message).isNotEmpty();
        statements.forEach(clickhouse::execute);
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
