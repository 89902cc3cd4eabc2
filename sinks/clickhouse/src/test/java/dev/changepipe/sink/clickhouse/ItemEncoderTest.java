package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Columns;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The fast item encoder writes exactly what converting rows and then encoding them writes. */
class ItemEncoderTest {

    private static final ClickHouseSinkOptions OPTIONS = ClickHouseSinkOptions.builder().endpoints("http://h:8123").build();

    private static TableWriter table(String... columns) {
        List<TableWriter.Column> list = new ArrayList<>();
        for (String c : columns) {
            String[] p = c.split(" ", 2);
            list.add(new TableWriter.Column(p[0], ColumnType.parse(p[1]), false));
        }
        return new TableWriter(OPTIONS, "app.model", "app_model", WriteMode.REPLACING, list);
    }

    /** The bytes of the general path: {@link TableWriter#values} then {@link RowEncoder}. */
    private static byte[] general(TableWriter table, List<ChangeItem> items) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        RowEncoder encoder = RowEncoder.of(InsertFormat.ROW_BINARY, bytes);
        TableWriter.Insert insert = table.streamed(items);
        for (ChangeItem item : items) {
            encoder.writeRow(table.types(), table.values(item), insert.columns());
        }
        encoder.flush();
        return bytes.toByteArray();
    }

    private static byte[] fast(TableWriter table, List<ChangeItem> items) {
        return new ItemEncoder(table, 1).encode(items, 0, items.size());
    }

    @Test
    void everyTypeKeyDeleteMissingAndIgnoredFieldIsEncodedAsByTheGeneralPath() throws IOException {
        TableWriter table = table("id UInt64", "tiny Int8", "small Int16", "i32 Int32", "big Int64", "u16 UInt16",
                "flag UInt8", "price Decimal(12, 2)", "huge Decimal(30, 4)", "d32 Decimal(9, 3)", "name String",
                "code FixedString(4)", "created DateTime", "at DateTime64(3)", "day Date", "uid UUID",
                "ratio Float64", "f32 Float32", "note Nullable(String)", "tags Array(String)",
                "question_id UInt64", "version UInt64", "is_deleted UInt8");
        UUID uid = UUID.randomUUID();
        List<ChangeItem> items = new ArrayList<>();
        for (long i = 0; i < 50; i++) {
            items.add(ChangeItem.insert("app.model", Map.of("id", i), Items.map("id", i, "tiny", -3L, "small", 300,
                    "i32", -70_000L, "big", Long.MIN_VALUE, "u16", 65_535L, "flag", true,
                    "price", new BigDecimal("1234.5"), "huge", new BigDecimal("-12345678901234567890.1234"),
                    "d32", 7L, "name", i % 2 == 0 ? "ascii " + i : "ünïcödé \uD83D\uDE00 \t\n\0 " + i,
                    "code", "ab", "created", i % 3 == 0 ? (Object) 1_700_000_000L : "2024-02-29T12:34:56+01:00",
                    "at", Instant.ofEpochMilli(1_700_000_000_123L), "day", "2024-02-29", "uid", uid,
                    "ratio", 0.25, "f32", 1.5f, "note", i % 2 == 0 ? null : "x", "tags", List.of("a", "b"),
                    "question", 9L, "version", 999L, "unknown", "ignored"), i + 1));
        }
        items.add(ChangeItem.insert("app.model", Map.of("id", 77L), Items.map("name", "only a name"), 5));
        items.add(ChangeItem.delete("app.model", Map.of("id", 78L), 6));
        items.add(ChangeItem.update("app.model", Items.map("id", 79L), Items.map("id", 80L, "name", "key wins"), 7));
        for (long i = 90; i < 93; i++) { // field names that are not shared instances (as from a parser)
            items.add(ChangeItem.insert("app.model", Map.of(new String("id"), i), Items.map(new String("name"),
                    "n" + i, new String("unknown"), 1L, new String("price"), BigDecimal.ONE), i));
        }
        items.add(ChangeItem.insert("app.model", Map.of("id", 81L), Items.map("price", 3L, "big", BigInteger.TEN,
                "created", new BigDecimal("1700000000.9")), 8));

        assertThat(fast(table, items)).isEqualTo(general(table, items));
    }

    @Test
    void rowsOfColumnsAreEncodedAsCopiedMapsOfTheSameFields() throws IOException {
        TableWriter table = table("id UInt64", "name String", "note Nullable(String)", "version UInt64",
                "is_deleted UInt8");
        Columns keyColumns = Columns.of("id");
        Columns columns = Columns.of("id", "unknown", "name", "note");
        List<ChangeItem> rows = new ArrayList<>();
        List<ChangeItem> copies = new ArrayList<>();
        for (long i = 0; i < 5; i++) {
            Object[] values = {i, "ignored", "n" + i, i % 2 == 0 ? null : "x"};
            Map<String, Object> copy = new LinkedHashMap<>();
            for (int c = 0; c < values.length; c++) {
                copy.put(columns.names().get(c), values[c]);
            }
            rows.add(ChangeItem.insert("app.model", keyColumns.row(i), columns.row(values), i + 1));
            copies.add(ChangeItem.insert("app.model", Map.of("id", i), copy, i + 1));
        }
        rows.add(ChangeItem.delete("app.model", keyColumns.row(9L), 9));
        copies.add(ChangeItem.delete("app.model", Map.of("id", 9L), 9));

        assertThat(fast(table, rows)).isEqualTo(fast(table, copies)).isEqualTo(general(table, rows));
    }

    @Test
    void decimalsAtTheEdgesOfTheirPrecisionConvertOrFailAsInTheGeneralPath() throws IOException {
        TableWriter table = table("id UInt64", "d Decimal(18, 2)", "version UInt64", "is_deleted UInt8");
        long id = 0;
        int failed = 0;
        for (String d : List.of("0", "0.00", "-0.01", "9999999999999999.99", "-9999999999999999.99", "12",
                "1.5", "123456789012345678", "99999999999999999.9", "1E+3", "0.1E-1", "0.001")) {
            List<ChangeItem> item = List.of(ChangeItem.insert("app.model", Map.of("id", id), Items.map("d",
                    new BigDecimal(d)), ++id));
            byte[] expected;
            try {
                expected = general(table, item);
            } catch (ClickHouseWriteException e) {
                failed++;
                assertThatThrownBy(() -> fast(table, item)).hasMessage(e.getMessage());
                continue;
            }
            assertThat(fast(table, item)).as(d).isEqualTo(expected);
        }
        assertThat(failed).isEqualTo(3); // too many digits twice, too many decimals once
    }

    @Test
    void aValueThatDoesNotConvertFailsWithTheSameMessage() {
        TableWriter table = table("id UInt64", "tiny Int8", "version UInt64", "is_deleted UInt8");
        List<ChangeItem> items = List.of(
                ChangeItem.insert("app.model", Map.of("id", 1L), Items.map("tiny", 1L), 1),
                ChangeItem.insert("app.model", Map.of("id", 42L), Items.map("tiny", 1000L), 2));
        String expected = null;
        try {
            general(table, items);
        } catch (ClickHouseWriteException | IOException e) {
            expected = e.getMessage();
        }
        assertThat(expected).contains("column tiny", "'1000' (Long)", "field tiny", "Int8", "key {id=42}");
        assertThatThrownBy(() -> fast(table, items)).isInstanceOf(ClickHouseWriteException.class).hasMessage(expected);
    }

    @Test
    void aNegativeVersionFailsNamingTableColumnAndValueInBothPaths() {
        TableWriter table = table("id UInt64", "version UInt64", "is_deleted UInt8");
        List<ChangeItem> items = List.of(ChangeItem.insert("app.model", Map.of("id", 7L), Items.map(), -5));
        assertThatThrownBy(() -> fast(table, items)).isInstanceOf(ClickHouseWriteException.class)
                .hasMessage("sink clickhouse, table app_model, column version: item of key {id=7} has a negative"
                        + " version -5");
        assertThatThrownBy(() -> general(table, items)).isInstanceOf(ClickHouseWriteException.class)
                .hasMessage("sink clickhouse, table app_model, column version: item of key {id=7} has a negative"
                        + " version -5");
    }

    @Test
    void aVersionColumnNarrowerThan64BitsIsRefusedSoNothingIsEverWrapped() {
        assertThatThrownBy(() -> table("id UInt64", "version UInt32", "is_deleted UInt8"))
                .isInstanceOf(ClickHouseWriteException.class)
                .hasMessageContaining("column version has type UInt32")
                .hasMessageContaining("needs UInt64 (or Int64)");
        assertThat(table("id UInt64", "version Int64", "is_deleted UInt8").versionIndex()).isEqualTo(1);
    }
}
