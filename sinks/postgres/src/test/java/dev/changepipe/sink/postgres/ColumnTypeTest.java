package dev.changepipe.sink.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.r2dbc.postgresql.codec.Json;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class ColumnTypeTest {

    private static Object convert(String udtName, Object value) {
        ColumnType type = ColumnType.of(udtName);
        ColumnType element = type == ColumnType.ARRAY ? ColumnType.of(udtName.substring(1)) : ColumnType.OTHER;
        return type.convert(value, element);
    }

    @Test
    void integersAreRangeChecked() {
        assertThat(convert("int2", 7L)).isEqualTo((short) 7);
        assertThat(convert("int4", "42")).isEqualTo(42);
        assertThat(convert("int8", new BigDecimal("5"))).isEqualTo(5L);
        assertThatThrownBy(() -> convert("int4", 3_000_000_000L)).hasMessageContaining("out of range");
        assertThatThrownBy(() -> convert("int8", new BigDecimal("1.5"))).hasMessageContaining("not an integer");
        assertThatThrownBy(() -> convert("int8", true)).hasMessageContaining("expected an integer, got a Boolean");
    }

    @Test
    void numbersKeepTheirDigits() {
        assertThat(convert("numeric", new BigDecimal("12345678901234567890.123456789")))
                .isEqualTo(new BigDecimal("12345678901234567890.123456789"));
        assertThat(convert("numeric", 3L)).isEqualTo(BigDecimal.valueOf(3));
        assertThat(convert("float8", new BigDecimal("0.25"))).isEqualTo(0.25d);
        assertThatThrownBy(() -> convert("numeric", "abc")).hasMessageContaining("not a number");
    }

    @Test
    void uuidsAreStrict() {
        UUID u = UUID.fromString("7c9e6679-7425-40de-944b-e07fc1f90ae7");
        assertThat(convert("uuid", "7c9e6679-7425-40de-944b-e07fc1f90ae7")).isEqualTo(u);
        assertThat(convert("uuid", "7c9e6679742540de944be07fc1f90ae7")).isEqualTo(u);
        assertThatThrownBy(() -> convert("uuid", "1-1-1-1-1")).hasMessageContaining("not a UUID");
        assertThatThrownBy(() -> convert("uuid", 5L)).hasMessageContaining("got a Long");
    }

    @Test
    void timestampsFromIsoStrings() {
        assertThat(convert("timestamptz", "2019-03-26T10:51:03.123Z"))
                .isEqualTo(OffsetDateTime.of(2019, 3, 26, 10, 51, 3, 123_000_000, ZoneOffset.UTC));
        assertThat(convert("timestamptz", "2019-03-26 10:51:03+03:00"))
                .isEqualTo(OffsetDateTime.of(2019, 3, 26, 10, 51, 3, 0, ZoneOffset.ofHours(3)));
        assertThat(convert("timestamptz", "2019-03-26T10:51:03"))
                .isEqualTo(OffsetDateTime.of(2019, 3, 26, 10, 51, 3, 0, ZoneOffset.UTC));
        assertThat(convert("timestamp", "2019-03-26T10:51:03+01:00")).isEqualTo(LocalDateTime.of(2019, 3, 26, 9, 51, 3));
        assertThat(convert("date", "2024-02-29")).isEqualTo(LocalDate.of(2024, 2, 29));
        assertThatThrownBy(() -> convert("timestamptz", "yesterday")).hasMessageContaining("not an ISO-8601 timestamp");
    }

    @Test
    void jsonArraysBytesAndText() {
        assertThat(((Json) convert("jsonb", Map.of("a", List.of(1L, "x\"y")))).asString()).isEqualTo("{\"a\":[1,\"x\\\"y\"]}");
        assertThat(((Json) convert("json", "s")).asString()).isEqualTo("\"s\"");
        assertThat((String[]) convert("_int4", List.of(1L, 2L))).containsExactly("1", "2");
        assertThat((String[]) convert("_uuid", java.util.Arrays.asList("7c9e6679-7425-40de-944b-e07fc1f90ae7", null)))
                .containsExactly("7c9e6679-7425-40de-944b-e07fc1f90ae7", null);
        assertThatThrownBy(() -> convert("_int4", List.of(List.of(1L)))).hasMessageContaining("nested");
        assertThatThrownBy(() -> convert("_int4", List.of("x"))).hasMessageContaining("not a number");
        assertThat((ByteBuffer) convert("bytea", "AAEC/w==")).isEqualTo(ByteBuffer.wrap(new byte[] {0, 1, 2, -1}));
        assertThat(convert("varchar", new BigDecimal("1.50"))).isEqualTo("1.50");
        assertThatThrownBy(() -> convert("text", "a\0b")).hasMessageContaining("NUL");
        assertThat(convert("interval", "1 day")).isEqualTo("1 day");
        assertThat(convert("bool", "f")).isEqualTo(false);
    }

    @Test
    void textFormsAreWhatPostgresReadsBackInACast() {
        assertThat(ColumnType.sqlText(convert("_text", java.util.Arrays.asList("a", "b,c", "d\"e\\f", null, ""))))
                .isEqualTo("{\"a\",\"b,c\",\"d\\\"e\\\\f\",NULL,\"\"}");
        assertThat(ColumnType.sqlText(convert("_int4", List.of()))).isEqualTo("{}");
        assertThat(ColumnType.sqlText(convert("bytea", "AAEC/w=="))).isEqualTo("\\x000102ff");
        assertThat(ColumnType.sqlText(convert("numeric", new BigDecimal("1E+3")))).isEqualTo("1000");
        assertThat(ColumnType.sqlText(convert("timestamptz", "2019-03-26T10:51:03.123+03:00")))
                .isEqualTo("2019-03-26T10:51:03.123+03:00");
        assertThat(ColumnType.sqlText(convert("jsonb", List.of("x")))).isEqualTo("[\"x\"]");
        assertThat(ColumnType.sqlText(convert("bool", "t"))).isEqualTo("true");
    }

    /** What a source that reads typed values hands (postgres-cdc's rows): taken as their text would be. */
    @Test
    void typedTimesAndBytesFromASourceAreTakenAsTheirTextWouldBe() {
        LocalDateTime t = LocalDateTime.of(2024, 1, 1, 0, 1);
        assertThat(convert("timestamp", t)).isEqualTo(t);
        assertThat(convert("timestamptz", t)).isEqualTo(t.atOffset(ZoneOffset.UTC));
        assertThat(convert("timestamptz", OffsetDateTime.of(t, ZoneOffset.ofHours(2))))
                .isEqualTo(OffsetDateTime.of(t, ZoneOffset.ofHours(2)));
        assertThat(convert("timestamp", OffsetDateTime.of(t, ZoneOffset.ofHours(2)))).isEqualTo(t.minusHours(2));
        assertThat(convert("date", LocalDate.of(2024, 2, 29))).isEqualTo(LocalDate.of(2024, 2, 29));
        assertThat(convert("time", java.time.LocalTime.of(10, 30))).isEqualTo(java.time.LocalTime.of(10, 30));
        assertThat(convert("bytea", new byte[] {1, 2})).isEqualTo(ByteBuffer.wrap(new byte[] {1, 2}));
        assertThat(convert("text", t)).isEqualTo("2024-01-01T00:01");
        // a JSON document (postgres-cdc's jsonb) is written as the document, not as a JSON string of it
        assertThat(((Json) convert("jsonb", new dev.changepipe.core.JsonValue("{\"n\": 1}"))).asString())
                .isEqualTo("{\"n\": 1}");
        assertThat(((Json) convert("jsonb", java.util.List.of(new dev.changepipe.core.JsonValue("{\"n\": 1}"))))
                .asString()).isEqualTo("[{\"n\": 1}]");
    }
}
