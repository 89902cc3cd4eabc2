package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** Type parsing, conversion to canonical values, and RowBinary written then read back. */
class ValuesTest {

    private static Object convert(String type, Object value) {
        return Values.convert(ColumnType.parse(type), value);
    }

    @Test
    void typesAreParsedIncludingNestingDecimalAndTimeZones() {
        ColumnType t = ColumnType.parse("Array(Nullable(Decimal(10, 2)))");
        assertThat(t.kind()).isEqualTo(ColumnType.Kind.ARRAY);
        assertThat(t.element().element().bytes()).isEqualTo(8);
        assertThat(t.element().element().scale()).isEqualTo(2);
        assertThat(ColumnType.parse("DateTime('Asia/Tokyo')").zone().getId()).isEqualTo("Asia/Tokyo");
        assertThat(ColumnType.parse("LowCardinality(String)").kind()).isEqualTo(ColumnType.Kind.STRING);
        assertThat(ColumnType.parse("Enum8('a' = 1)").supported()).isFalse();
        assertThat(ColumnType.parse("Array(Map(String, String))").supported()).isFalse();
    }

    @Test
    void isoDateTimesReadWithoutTheFormatterGiveTheFormattersInstant() {
        java.util.List<String> samples = List.of("2026-12-05T06:00:00", "2026-12-05 06:00:00", "2026-12-05T06:00:00Z",
                "2026-12-05T06:00:00.5", "2026-12-05T06:00:00.123456789Z", "2024-02-29T23:59:59+05:30",
                "1970-01-01T00:00:00-08:00", "2026-03-29T02:30:00", "2026-10-25T02:30:00");
        for (java.time.ZoneId zone : List.of(java.time.ZoneOffset.UTC, java.time.ZoneId.of("Europe/Berlin"),
                java.time.ZoneOffset.ofHours(-3))) {
            for (String s : samples) {
                String iso = s.charAt(10) == ' ' ? s.substring(0, 10) + 'T' + s.substring(11) : s;
                java.time.temporal.TemporalAccessor t = java.time.format.DateTimeFormatter.ISO_DATE_TIME.parseBest(iso,
                        java.time.ZonedDateTime::from, java.time.LocalDateTime::from);
                java.time.Instant expected = t instanceof java.time.ZonedDateTime z ? z.toInstant()
                        : ((java.time.LocalDateTime) t).atZone(zone).toInstant();
                assertThat(Values.fastInstant(s, zone)).as(s + " in " + zone).isEqualTo(expected);
            }
        }
        // anything else is left to the formatter (and refused there when it is no date-time)
        for (String s : List.of("2026-02-30T00:00:00", "2026-12-05T24:00:00", "2026-12-05T06:00", "2026-12-05",
                "yesterday-ish", "2026-12-05T06:00:00.", "2026-12-05T06:00:00+5:30", "2026-12-05T06:00:00[Europe/Paris]")) {
            assertThat(Values.fastInstant(s, java.time.ZoneOffset.UTC)).as(s).isNull();
        }
        assertThatThrownBy(() -> convert("DateTime", "2026-02-30T00:00:00")).hasMessageContaining("not an ISO date-time");
    }

    /** The calendar arithmetic of the fast path against {@code java.time}, every day of four centuries and more. */
    @Test
    void epochDaysAndMonthLengthsAreJavaTimes() {
        for (java.time.LocalDate d = java.time.LocalDate.of(1799, 12, 1); d.getYear() < 2201; d = d.plusDays(1)) {
            assertThat(Values.epochDay(d.getYear(), d.getMonthValue(), d.getDayOfMonth())).as(d.toString())
                    .isEqualTo(d.toEpochDay());
        }
        for (int year : new int[] {0, 1, 4, 100, 400, 1900, 2000, 2024, 2100, 9999}) {
            for (int month = 1; month <= 12; month++) {
                assertThat(Values.lengthOfMonth(year, month)).as(year + "-" + month)
                        .isEqualTo(java.time.YearMonth.of(year, month).lengthOfMonth());
                assertThat(Values.epochDay(year, month, 1)).isEqualTo(java.time.LocalDate.of(year, month, 1).toEpochDay());
            }
        }
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        for (int i = 0; i < 20_000; i++) {
            java.time.Instant instant = java.time.Instant.ofEpochSecond(random.nextLong(-2_000_000_000L, 8_000_000_000L),
                    random.nextInt(1_000_000_000));
            java.time.ZoneOffset offset = java.time.ZoneOffset.ofTotalSeconds(random.nextInt(-18 * 60, 18 * 60 + 1) * 60);
            String text = java.time.OffsetDateTime.ofInstant(instant, offset)
                    .format(java.time.format.DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSSxxx"));
            assertThat(Values.fastInstant(text, java.time.ZoneOffset.UTC)).as(text).isEqualTo(instant);
        }
    }

    @Test
    void decimalTextReadWithoutBigDecimalGivesTheSameValue() {
        for (String type : List.of("Decimal(10, 2)", "Decimal(18, 4)", "Decimal(5, 0)", "Decimal(9, 3)")) {
            ColumnType t = ColumnType.parse(type);
            for (String text : List.of("123.45", "-0.5", ".5", "+7", "0", "99999999.99", "1.234", "12345678901.5",
                    "-99999.999")) {
                long fast = Values.fastDecimal(text, t);
                if (fast == Long.MIN_VALUE) {
                    continue; // left to the slow path, which decides (and names the error)
                }
                BigDecimal slow = new BigDecimal(text).setScale(t.scale());
                assertThat(fast).as(text + " as " + type).isEqualTo(slow.unscaledValue().longValueExact());
                assertThat(Math.abs(fast)).isLessThan(BigInteger.TEN.pow(t.precision()).longValueExact());
            }
        }
        assertThat(Values.fastDecimal("1.", ColumnType.parse("Decimal(10, 2)"))).isEqualTo(Long.MIN_VALUE);
        assertThat(Values.fastDecimal("1e3", ColumnType.parse("Decimal(10, 2)"))).isEqualTo(Long.MIN_VALUE);
        assertThat(Values.fastDecimal("1.234", ColumnType.parse("Decimal(10, 2)"))).isEqualTo(Long.MIN_VALUE);
        assertThatThrownBy(() -> convert("Decimal(10, 2)", "1.234")).hasMessageContaining("decimal places");
    }

    @Test
    void integersAreRangeChecked() {
        assertThat(convert("Int8", 127L)).isEqualTo(127L);
        assertThatThrownBy(() -> convert("Int8", 128L)).hasMessageContaining("out of range for Int8");
        assertThatThrownBy(() -> convert("UInt8", -1L)).hasMessageContaining("out of range for UInt8");
        assertThat(convert("UInt64", new BigInteger("18446744073709551615"))).isEqualTo(-1L);
        assertThat(convert("Int32", new BigDecimal("12.0"))).isEqualTo(12L);
        assertThatThrownBy(() -> convert("Int32", new BigDecimal("12.5"))).hasMessageContaining("not an integer");
        assertThat(convert("UInt8", true)).isEqualTo(1L);
    }

    @Test
    void decimalsKeepTheirScaleAndRefuseToRound() {
        assertThat(convert("Decimal(10, 2)", new BigDecimal("1.5"))).isEqualTo(150L);
        assertThat(convert("Decimal(38, 2)", new BigDecimal("1.5"))).isEqualTo(BigInteger.valueOf(150));
        assertThatThrownBy(() -> convert("Decimal(10, 2)", new BigDecimal("1.555"))).hasMessageContaining("decimal places");
        assertThatThrownBy(() -> convert("Decimal(4, 2)", new BigDecimal("123.45"))).hasMessageContaining("does not fit");
    }

    @Test
    void datesAndDateTimesFromIsoStringsAndEpochNumbers() {
        assertThat(convert("Date", "2024-02-29")).isEqualTo(19782L);
        assertThat(convert("Date", "2024-02-29T23:59:59Z")).isEqualTo(19782L);
        assertThat(convert("DateTime", "2024-02-29T12:34:56Z")).isEqualTo(1709210096L);
        assertThat(convert("DateTime", "2024-02-29 12:34:56")).isEqualTo(1709210096L);
        assertThat(convert("DateTime", "2024-02-29T13:34:56.789+01:00")).isEqualTo(1709210096L);
        assertThat(convert("DateTime('Asia/Tokyo')", "2024-02-29T21:34:56")).isEqualTo(1709210096L);
        assertThat(convert("DateTime", 1709210096L)).isEqualTo(1709210096L);
        assertThat(convert("DateTime", "1709210096")).isEqualTo(1709210096L);
        assertThat(convert("DateTime64(3)", new BigDecimal("1709210096.123"))).isEqualTo(1709210096123L);
        assertThatThrownBy(() -> convert("DateTime", "yesterday")).hasMessageContaining("not an ISO date-time");
    }

    @Test
    void stringsKeepAnyBytesAndMapsAndListsBecomeJson() {
        byte[] raw = {(byte) 0xff, 0, '\t'};
        assertThat((byte[]) convert("String", raw)).isEqualTo(raw);
        assertThat(new String((byte[]) convert("String", Map.of("a", List.of(1L, "x\"y"))), StandardCharsets.UTF_8))
                .isEqualTo("{\"a\":[1,\"x\\\"y\"]}");
        assertThatThrownBy(() -> convert("FixedString(2)", "abc")).hasMessageContaining("do not fit");
        assertThatThrownBy(() -> convert("String", null)).hasMessageContaining("not Nullable");
        assertThat(convert("Nullable(String)", null)).isNull();
    }

    @Test
    void rowBinaryWrittenIsReadBackToTheSameValues() throws Exception {
        ColumnType[] types = Arrays.stream(new String[] {"Int8", "Int64", "UInt64", "Float32", "Float64",
                "Decimal(9, 2)", "Decimal(38, 10)", "String", "FixedString(3)", "UUID", "Date", "DateTime",
                "Nullable(Int16)", "Nullable(String)", "Array(Array(String))"}).map(ColumnType::parse)
                .toArray(ColumnType[]::new);
        Object[] values = {-5L, Long.MIN_VALUE, -1L, 1.5d, -2.25d, -12345L,
                new BigInteger("-12345678901234567890123456789"), "x\0y".getBytes(StandardCharsets.UTF_8),
                "ab".getBytes(StandardCharsets.UTF_8), UUID.randomUUID(), 19782L, 1709210096L, null, "n".getBytes(StandardCharsets.UTF_8),
                List.of(List.of("a".getBytes(StandardCharsets.UTF_8)), List.of())};
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        RowEncoder encoder = RowEncoder.of(InsertFormat.ROW_BINARY, out);
        int[] all = java.util.stream.IntStream.range(0, types.length).toArray();
        encoder.writeRow(types, values, all);
        encoder.writeRow(types, values, all);
        encoder.flush();
        RowBinaryReader reader = new RowBinaryReader(new ByteArrayInputStream(out.toByteArray()));
        for (int r = 0; r < 2; r++) {
            Object[] read = reader.readRow(types);
            assertThat(read).usingRecursiveComparison().isEqualTo(values);
        }
        assertThat(reader.readRow(types)).isNull();
    }

    @Test
    void aSmallBufferEncoderWritesTheSameBytesAsTheDefaultOneEvenForValuesLargerThanItsBuffer() throws Exception {
        ColumnType[] types = Arrays.stream(new String[] {"UInt64", "String", "String", "Decimal(38, 10)", "UUID",
                "Array(String)", "Nullable(String)"}).map(ColumnType::parse).toArray(ColumnType[]::new);
        String long16k = "k".repeat(16_384);
        Object[] values = {-1L, long16k, "é".repeat(100), new BigInteger("-12345678901234567890123456789"),
                UUID.randomUUID(), List.of("a".repeat(200), "b".repeat(40)), "z".repeat(63)};
        int[] all = java.util.stream.IntStream.range(0, types.length).toArray();
        ByteArrayOutputStream large = new ByteArrayOutputStream();
        RowEncoder.RowBinaryEncoder big = new RowEncoder.RowBinaryEncoder(large);
        big.writeRow(types, values, all);
        big.flush();
        ByteArrayOutputStream small = new ByteArrayOutputStream();
        RowEncoder.RowBinaryEncoder tiny = new RowEncoder.RowBinaryEncoder(small, RowEncoder.SMALL_BUFFER);
        tiny.writeRow(types, values, all);
        tiny.flush();
        assertThat(small.toByteArray()).isEqualTo(large.toByteArray());
    }

    @Test
    void optionsValidationNamesTheOption() {
        assertThatThrownBy(() -> ClickHouseSinkOptions.builder().build()).hasMessageStartingWith("endpoints:");
        assertThatThrownBy(() -> ClickHouseSinkOptions.builder().endpoints("localhost:8123").build())
                .hasMessageStartingWith("endpoints:");
        assertThatThrownBy(() -> ClickHouseSinkOptions.builder().endpoints("http://h:1").backoff(
                java.time.Duration.ofSeconds(2), java.time.Duration.ofSeconds(1), 0.5).build())
                .hasMessageStartingWith("maxBackoff:");
        assertThatThrownBy(() -> TableOptions.builder().create(List.of("id"), List.of("id")).build())
                .hasMessageStartingWith("columns:");
        assertThatThrownBy(() -> ClickHouseSinkOptions.builder().endpoints("http://u:s3cret@h:1").build())
                .hasMessageStartingWith("endpoints:").hasMessageNotContaining("s3cret");
        ClickHouseSinkOptions o = ClickHouseSinkOptions.builder().endpoints("http://h:1")
                .credentials("u", "s3cret").build();
        assertThat(o.toString()).doesNotContain("s3cret");
        assertThat(o.targetTable("app.model")).isEqualTo("app_model");
        assertThat(o.mode("app.model")).isEqualTo(WriteMode.REPLACING);
    }

    @Test
    void identifiersAndStringsAreQuotedNeverRaw() {
        assertThat(Sql.identifier("a`b\\c")).isEqualTo("`a\\`b\\\\c`");
        assertThat(Sql.string("it's \\ \n")).isEqualTo("'it\\'s \\\\ \\x0a'");
        assertThatThrownBy(() -> Sql.identifier("")).isInstanceOf(IllegalArgumentException.class);
    }
}
