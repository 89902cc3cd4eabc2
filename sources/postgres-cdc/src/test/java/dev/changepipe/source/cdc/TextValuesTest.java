package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import org.junit.jupiter.api.Test;

/** PostgreSQL's text forms, as pgoutput and {@code ::text} write them. */
class TextValuesTest {

    @Test
    void textFormsBecomeTheValuesTheSinksTake() {
        assertThat(TextValues.convert(TextValues.INT4, "-42")).isEqualTo(-42L);
        assertThat(TextValues.convert(TextValues.NUMERIC, "12.50")).isEqualTo(new BigDecimal("12.50"));
        assertThat(TextValues.convert(TextValues.FLOAT8, "1.5e-07")).isEqualTo(1.5e-7);
        assertThat(TextValues.convert(TextValues.BOOL, "t")).isEqualTo(true);
        assertThat(TextValues.convert(TextValues.BOOL, "false")).isEqualTo(false);
        assertThat(TextValues.convert(TextValues.DATE, "2024-02-29")).isEqualTo(LocalDate.of(2024, 2, 29));
        assertThat(TextValues.convert(TextValues.TIMESTAMP, "2024-01-02 03:04:05.123456"))
                .isEqualTo(LocalDateTime.of(2024, 1, 2, 3, 4, 5, 123_456_000));
        assertThat(TextValues.convert(TextValues.TIMESTAMPTZ, "2024-01-02 03:04:05+00"))
                .isEqualTo(OffsetDateTime.parse("2024-01-02T03:04:05Z"));
        assertThat(TextValues.convert(TextValues.TIMESTAMPTZ, "2024-01-02 08:34:05.5+05:30"))
                .isEqualTo(OffsetDateTime.parse("2024-01-02T03:04:05.5Z"));
        assertThat(TextValues.convert(TextValues.TIMESTAMP, "2024-02-29 23:59:59.5"))
                .isEqualTo(LocalDateTime.of(2024, 2, 29, 23, 59, 59, 500_000_000));
        assertThat(TextValues.convert(TextValues.TIMESTAMPTZ, "2024-01-02 03:04:05.123+00"))
                .isEqualTo(OffsetDateTime.parse("2024-01-02T03:04:05.123Z"));
        assertThat(TextValues.convert(TextValues.BYTEA, "\\x00ff")).isEqualTo(new byte[] {0, -1});
        assertThat(TextValues.convert(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")).isEqualTo("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assertThat(TextValues.convert(TextValues.INT8, null)).isNull();
        // a document, which the sinks write as such (not as a JSON string of its text)
        assertThat(TextValues.convert(TextValues.JSONB, "{\"n\": 1}")).isEqualTo(new dev.changepipe.core.JsonValue("{\"n\": 1}"));
    }

    @Test
    void aTextThatDoesNotParseAsItsTypeStaysText() {
        assertThat(TextValues.convert(TextValues.TIMESTAMP, "infinity")).isEqualTo("infinity");
        assertThat(TextValues.convert(TextValues.DATE, "0044-03-15 BC")).isEqualTo("0044-03-15 BC");
        assertThat(TextValues.convert(TextValues.NUMERIC, "NaN")).isEqualTo("NaN");
    }

    /** Arrays: {@code text[]} is 1009, {@code int4[]} 1007, {@code numeric[]} 1231, {@code bytea[]} 1001. */
    @Test
    void anArrayBecomesAListOfItsElementsValues() {
        assertThat(TextValues.convert(1009, "{a1,b}")).isEqualTo(java.util.List.of("a1", "b"));
        assertThat(TextValues.convert(1009, "{\"a,b\",\"say \\\"hi\\\"\",NULL,\"NULL\", x }"))
                .isEqualTo(java.util.Arrays.asList("a,b", "say \"hi\"", null, "NULL", "x"));
        assertThat(TextValues.convert(1007, "{{1,2},{3,4}}"))
                .isEqualTo(java.util.List.of(java.util.List.of(1L, 2L), java.util.List.of(3L, 4L)));
        assertThat(TextValues.convert(1231, "[0:1]={1.50,NULL}"))
                .isEqualTo(java.util.Arrays.asList(new BigDecimal("1.50"), null));
        assertThat(TextValues.convert(1009, "{}")).isEqualTo(java.util.List.of());
        assertThat(TextValues.convert(3807, "{\"{\\\"a\\\": 1}\"}"))
                .isEqualTo(java.util.List.of(new dev.changepipe.core.JsonValue("{\"a\": 1}")));
        assertThat(TextValues.convert(1009, "{unclosed")).isEqualTo("{unclosed");
    }

    /** The in-flight limit charges a row what it holds: a document's text, an array's elements. */
    @Test
    void aRowsSizeCountsItsDocumentsAndArraysWhole() {
        TableShape docs = new TableShape(new TableName("public", "docs"), new String[] {"id", "doc", "tags"},
                new int[] {TextValues.INT8, TextValues.JSONB, 1009}, new String[] {"bigint", "jsonb", "text[]"},
                new int[] {0});
        String big = "{\"text\": \"" + "x".repeat(10_000) + "\"}";
        Object[] row = {1L, TextValues.convert(TextValues.JSONB, big), TextValues.convert(1009, "{a,b,c}")};
        Object[] small = {1L, TextValues.convert(TextValues.JSONB, "{}"), TextValues.convert(1009, "{}")};
        assertThat(docs.estimateSize(row) - docs.estimateSize(small)).isGreaterThan(20_000);
    }

    /** The fast numeric path gives exactly what the constructor gives (value and scale), and leaves it the rest. */
    @Test
    void numericTextsReadWithoutTheConstructorEqualWhatItMakes() {
        for (String t : java.util.List.of("0", "-0", "12.50", "-0.50", ".5", "007", "1234567890.12345678",
                "-999999999999999999", "0.000001", "42")) {
            assertThat(TextValues.decimal(t)).as(t).isEqualTo(new BigDecimal(t));
            assertThat(TextValues.decimal(t).scale()).as(t).isEqualTo(new BigDecimal(t).scale());
        }
        for (String t : java.util.List.of("NaN", "5.", "+5", "1e5", "1234567890123456789", "-", "", "1.2.3")) {
            assertThat(TextValues.decimal(t)).as(t).isNull();
        }
        assertThat(TextValues.convert(TextValues.NUMERIC, "1234567890123456789.5"))
                .isEqualTo(new BigDecimal("1234567890123456789.5"));
    }
}
