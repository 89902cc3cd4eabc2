package dev.changepipe.sink.clickhouse;

import static dev.changepipe.sink.clickhouse.Items.chunk;
import static dev.changepipe.sink.clickhouse.Items.map;
import static org.assertj.core.api.Assertions.assertThat;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import reactor.test.StepVerifier;

/** Column mapping and type conversion against a real ClickHouse, in both insert formats. */
@ExtendWith(ClickHouseServerExtension.class)
class ColumnMappingIntegrationTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private final ClickHouseServer clickhouse;
    private final List<ClickHouseSink> sinks = new ArrayList<>();

    ColumnMappingIntegrationTest(ClickHouseServer clickhouse) {
        this.clickhouse = clickhouse;
    }

    @AfterEach
    void close() {
        sinks.forEach(s -> s.close().block(TIMEOUT));
    }

    private ClickHouseSink sink(String database, InsertFormat format, boolean compression) {
        ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl())
                .database(database)
                .format(format)
                .compression(compression)
                .retryDeadline(Duration.ZERO)
                .build());
        sinks.add(sink);
        return sink;
    }

    private void write(ClickHouseSink sink, ChangeItem... items) {
        sink.write(chunk(1, items)).as(StepVerifier::create).expectComplete().verify(TIMEOUT);
    }

    static final List<byte[]> STRINGS = List.of(
            "tab\there".getBytes(StandardCharsets.UTF_8),
            "new\nline and \r\n".getBytes(StandardCharsets.UTF_8),
            "quotes ' \" ` and \\' ".getBytes(StandardCharsets.UTF_8),
            "back\\slash \\N \\t".getBytes(StandardCharsets.UTF_8),
            "nul\0byte\0".getBytes(StandardCharsets.UTF_8),
            "4-byte UTF-8: \uD83D\uDE00 \uD834\uDD1E, and \u00e9\u4e2d".getBytes(StandardCharsets.UTF_8),
            "\b\f\u0001\u007f".getBytes(StandardCharsets.UTF_8),
            new byte[0],
            new byte[] {(byte) 0xff, 0, (byte) 0x80, (byte) 0xc3, '\t', '\\'});

    @ParameterizedTest
    @EnumSource(InsertFormat.class)
    void stringsWithTabsNewlinesQuotesBackslashesNulAnd4ByteUtf8RoundTripExactly(InsertFormat format) {
        String db = clickhouse.createDatabase("strings");
        clickhouse.execute("CREATE TABLE " + db + ".app_text (id UInt64, s String, a Array(String),"
                + " version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        ClickHouseSink sink = sink(db, format, format == InsertFormat.ROW_BINARY);
        List<ChangeItem> items = new ArrayList<>();
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < STRINGS.size(); i++) {
            byte[] b = STRINGS.get(i);
            Object value = i == STRINGS.size() - 1 ? b : new String(b, StandardCharsets.UTF_8);
            items.add(ChangeItem.insert("app.text", Map.of("id", (long) i), map("s", value, "a", List.of(value, value)), 1));
            String hex = HexFormat.of().withUpperCase().formatHex(b);
            expected.append(i).append('\t').append(hex).append('\t').append(hex).append(hex).append('\n');
        }
        write(sink, items.toArray(ChangeItem[]::new));
        assertThat(clickhouse.execute("SELECT id, hex(s), hex(arrayStringConcat(a)) FROM " + db
                + ".app_text FINAL ORDER BY id FORMAT TabSeparated")).isEqualTo(expected.toString());
    }

    private static final String TYPES = "id UInt64, i8 Int8, i16 Int16, i32 Int32, i64 Int64, u8 UInt8, u16 UInt16,"
            + " u32 UInt32, u64 UInt64, f32 Float32, f64 Float64, d32 Decimal(9, 2), d64 Decimal(18, 4),"
            + " d128 Decimal(38, 10), s String, fs FixedString(4), u UUID, d Date, dt DateTime,"
            + " dtz DateTime('Asia/Tokyo'), n Nullable(Int32), ns Nullable(String), ai Array(Int32),"
            + " an Array(Nullable(String)), aa Array(Array(UInt8)), flag UInt8,"
            + " version UInt64, is_deleted UInt8";

    private static final String SELECT_TYPES = "SELECT id, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, d32, d64,"
            + " d128, s, hex(fs), u, d, toUnixTimestamp(dt), toUnixTimestamp(dtz), n, ns, ai, an, aa, flag FROM ";

    @ParameterizedTest
    @EnumSource(InsertFormat.class)
    void everySupportedTypeRoundTrips(InsertFormat format) {
        String db = clickhouse.createDatabase("types");
        clickhouse.execute("CREATE TABLE " + db + ".app_types (" + TYPES
                + ") ENGINE = ReplacingMergeTree(version) ORDER BY id");
        ClickHouseSink sink = sink(db, format, false);
        ChangeItem extremes = ChangeItem.insert("app.types", Map.of("id", 1L), map(
                "i8", -128L, "i16", -32768L, "i32", Integer.MIN_VALUE, "i64", Long.MIN_VALUE,
                "u8", 255L, "u16", 65535L, "u32", 4294967295L, "u64", new BigInteger("18446744073709551615"),
                "f32", 1.5d, "f64", new BigDecimal("-2.25"),
                "d32", new BigDecimal("1234567.89"), "d64", "12345678901234.5678",
                "d128", new BigDecimal("-1234567890123456789012345678.0123456789"),
                "s", "text", "fs", "ab", "u", "61f0c404-5cb3-11e7-907b-a6006ad3dba0",
                "d", "2024-02-29", "dt", "2024-02-29T12:34:56Z", "dtz", "2024-02-29T21:34:56",
                "n", null, "ns", "not null", "ai", List.of(1L, -2L, 3L), "an", Arrays.asList(null, "x"),
                "aa", List.of(List.of(1L, 2L), List.of()), "flag", true), 1);
        ChangeItem otherJavaTypes = ChangeItem.insert("app.types", Map.of("id", 2L), map(
                "i8", 127, "i16", (short) 32767, "i32", 2147483647L, "i64", Long.MAX_VALUE,
                "u8", 0L, "u16", 0, "u32", 0L, "u64", Long.MAX_VALUE,
                "f32", new BigDecimal("-0.5"), "f64", 1e300,
                "d32", 5L, "d64", -1.5d, "d128", 0L,
                "s", new byte[] {'b', 'y', 't', 'e'}, "fs", "abcd", "u", UUID.fromString("00000000-0000-0000-0000-000000000001"),
                "d", LocalDate.of(2100, 12, 31), "dt", Instant.ofEpochSecond(1_700_000_000L),
                "dtz", OffsetDateTime.parse("2024-02-29T12:34:56+00:00"),
                "n", -7L, "ns", null, "ai", List.of(), "an", List.of(), "aa", List.of(), "flag", false), 1);
        ChangeItem epochNumbers = ChangeItem.insert("app.types", Map.of("id", 3L), map(
                "d", 19782L, "dt", 1709210096L, "dtz", new BigDecimal("1709210096.9"), "flag", 1L), 1);
        write(sink, extremes, otherJavaTypes, epochNumbers);
        assertThat(clickhouse.execute(SELECT_TYPES + db + ".app_types FINAL ORDER BY id FORMAT TabSeparated"))
                .isEqualTo(String.join("\t", "1", "-128", "-32768", "-2147483648", "-9223372036854775808",
                        "255", "65535", "4294967295", "18446744073709551615", "1.5", "-2.25", "1234567.89",
                        "12345678901234.5678", "-1234567890123456789012345678.0123456789", "text", "61620000",
                        "61f0c404-5cb3-11e7-907b-a6006ad3dba0", "2024-02-29", "1709210096", "1709210096",
                        "\\N", "not null", "[1,-2,3]", "[NULL,'x']", "[[1,2],[]]", "1") + "\n"
                        + String.join("\t", "2", "127", "32767", "2147483647", "9223372036854775807",
                        "0", "0", "0", "9223372036854775807", "-0.5", "1e300", "5.00",
                        "-1.5000", "0.0000000000", "byte", "61626364",
                        "00000000-0000-0000-0000-000000000001", "2100-12-31", "1700000000", "1709210096",
                        "-7", "\\N", "[]", "[]", "[]", "0") + "\n"
                        + String.join("\t", "3", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0.00",
                        "0.0000", "0.0000000000", "", "00000000", "00000000-0000-0000-0000-000000000000",
                        "2024-02-29", "1709210096", "1709210096", "\\N", "\\N", "[]", "[]", "[]", "1") + "\n");
    }

    @Test
    void missingValuesTakeTheColumnDefaultAndUnknownFieldsAreIgnoredAndForeignKeysMapToId() {
        String db = clickhouse.createDatabase("defaults");
        clickhouse.execute("CREATE TABLE " + db + ".polls_choice (id UInt64, question_id UInt64,"
                + " label String DEFAULT concat('choice ', toString(id)), votes Int32, twice Int64 MATERIALIZED votes * 2,"
                + " version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        ClickHouseSink sink = sink(db, InsertFormat.ROW_BINARY, false);
        write(sink,
                ChangeItem.insert("polls.choice", Map.of("id", 1L), map("question", 5L, "votes", 3L,
                        "no_such_column", "ignored", "twice", 99L), 1),
                ChangeItem.insert("polls.choice", Map.of("id", 2L), map("question", 6L, "label", "given",
                        "no_such_column", "ignored"), 1));
        assertThat(clickhouse.execute("SELECT id, question_id, label, votes, twice FROM " + db
                + ".polls_choice FINAL ORDER BY id FORMAT TabSeparated"))
                .isEqualTo("1\t5\tchoice 1\t3\t6\n2\t6\tgiven\t0\t0\n");
    }

    @Test
    void aValueThatCannotBeConvertedFailsTheBatchNamingTableColumnValueAndKey() {
        String db = clickhouse.createDatabase("convert");
        clickhouse.execute("CREATE TABLE " + db + ".app_small (id UInt64, tiny Int8,"
                + " version UInt64, is_deleted UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY id");
        ClickHouseSink sink = sink(db, InsertFormat.ROW_BINARY, false);
        sink.write(chunk(1,
                        ChangeItem.insert("app.small", Map.of("id", 1L), map("tiny", 1L), 1),
                        ChangeItem.insert("app.small", Map.of("id", 42L), map("tiny", 1000L), 1)))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    assertThat(e).isInstanceOf(ClickHouseWriteException.class);
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isFalse();
                    assertThat(c.table()).isEqualTo("app_small");
                    assertThat(c.column()).isEqualTo("tiny");
                    assertThat(c.getMessage()).contains("app_small", "tiny", "'1000'", "id=42", "Int8");
                })
                .verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT count() FROM " + db + ".app_small FORMAT TabSeparated"))
                .isEqualTo("0\n");

        // the bad value far into a streamed insert (megabytes sent already): still nothing written
        List<ChangeItem> many = new ArrayList<>();
        for (long i = 0; i < 200_000; i++) {
            many.add(ChangeItem.insert("app.small", Map.of("id", i), map("tiny", i == 150_000 ? 1000L : 1L), 1));
        }
        sink.write(dev.changepipe.core.Chunk.of("test.log", dev.changepipe.core.Offset.of(2), many, false))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> assertThat(e.getMessage()).contains("tiny", "id=150000"))
                .verify(TIMEOUT);
        assertThat(clickhouse.execute("SELECT count() FROM " + db + ".app_small FORMAT TabSeparated"))
                .isEqualTo("0\n");
    }

    @Test
    void permanentErrorsFailAtOnceWithTheClickHouseCodeAndMessage() {
        String db = clickhouse.createDatabase("permanent");
        ClickHouseSink sink = ClickHouseSink.create(ClickHouseSinkOptions.builder()
                .endpoints(clickhouse.httpUrl()).database(db)
                .retryDeadline(Duration.ofMinutes(10)) // would hang the test if it retried
                .build());
        sinks.add(sink);
        sink.write(chunk(1, ChangeItem.insert("app.missing", Map.of("id", 1L), map("x", 1L), 1)))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isFalse();
                    assertThat(c.errorCode()).isEqualTo(60);
                    assertThat(c.getMessage()).contains("app_missing", "does not exist");
                })
                .verify(TIMEOUT);
        // a type mismatch the server reports: a column the sink cannot see changes type under it
        clickhouse.execute("CREATE TABLE " + db + ".app_t (id UInt64, x String, version UInt64, is_deleted UInt8)"
                + " ENGINE = ReplacingMergeTree(version) ORDER BY id");
        write(sink, ChangeItem.insert("app.t", Map.of("id", 1L), map("x", "a"), 1));
        clickhouse.execute("DROP TABLE " + db + ".app_t");
        sink.write(chunk(2, ChangeItem.insert("app.t", Map.of("id", 1L), map("x", "a"), 2)))
                .as(StepVerifier::create)
                .expectErrorSatisfies(e -> {
                    ClickHouseWriteException c = (ClickHouseWriteException) e;
                    assertThat(c.isRetryable()).isFalse();
                    assertThat(c.errorCode()).isEqualTo(60);
                    assertThat(c.getMessage()).contains("ClickHouse error 60", "doesn't exist");
                })
                .verify(TIMEOUT);
    }
}
