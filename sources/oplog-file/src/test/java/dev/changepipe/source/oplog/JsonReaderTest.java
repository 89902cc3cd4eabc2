package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The reader gives what Jackson (the source's former reader) gives, and refuses what it refuses. */
class JsonReaderTest {

    private static final List<String> VALID = List.of(
            "0", "-0", "7", "-128", "127", "128", "-129", "123456789012345678", "1234567890123456789",
            "9223372036854775807", "-9223372036854775808",
            "0.10", "-0.5", "12.50", "1e3", "1E-3", "-2.5e+10", "1e400", "0.1234567890123456789012",
            "123456789.123456789", "\"\"", "\"abc\"", "\"caf\u00e9 \u4e2d \ud83d\ude00\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
            "\"\\u00e9\\u4e2d\\ud83d\\ude00 x\"", "true", "false", "null", "[]", "[1, \"a\", [null], {}]",
            "{}", "{\"a\": {\"b\": [1, 2.5, {\"c\": \"d\"}]}, \"e\": false}", "{\"a\": 1, \"a\": 2}",
            " \t\r\n {\"k\" : [ 1 , 2 ] } \n");

    private static final List<String> BROKEN = List.of(
            "", "01", "-", "1.", ".5", "1e", "+1", "0x10", "NaN", "tru", "nul", "truex", "\"abc", "\"a\\x\"",
            "\"\\u12\"", "\"a\tb\"", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\": 1,}", "{a: 1}", "{'a': 1}", "[", "{",
            "1 2", "[1]]", "9223372036854775808", "123456789012345678901234567890", "{\"a\": 1}}", "\"a\" x");

    @Test
    void readsWhatJacksonReads() {
        for (String text : VALID) {
            assertThat(read(text)).as(text).isEqualTo(Json.read(bytes(text), 0, bytes(text).length));
        }
    }

    @Test
    void refusesWhatJacksonRefuses() {
        for (String text : BROKEN) {
            assertThatThrownBy(() -> Json.read(bytes(text), 0, bytes(text).length)).as("Jackson: " + text)
                    .isInstanceOf(MalformedLineException.class);
            assertThatThrownBy(() -> read(text)).as(text).isInstanceOf(MalformedLineException.class)
                    .satisfies(e -> assertThat(((MalformedLineException) e).reason()).startsWith("broken JSON: "));
        }
    }

    @Test
    void namesAndCachedStringsAreTheSameInstances() {
        JsonReader r = new JsonReader();
        byte[] line = bytes("{\"field\": \"polls.question\"} {\"field\": \"polls.question\"}");
        r.reset(line, 0, 26);
        r.expect('{');
        String name = r.readName();
        String table = r.readCachedString();
        r.reset(line, 27, line.length);
        r.expect('{');
        assertThat(r.readName()).isEqualTo("field").isSameAs(name);
        assertThat(r.readCachedString()).isEqualTo("polls.question").isSameAs(table);
    }

    @Test
    void nestingIsBounded() {
        String deep = "[".repeat(JsonReader.MAX_DEPTH + 1) + "]".repeat(JsonReader.MAX_DEPTH + 1);
        assertThatThrownBy(() -> read(deep)).isInstanceOf(MalformedLineException.class)
                .hasMessageContaining("nested deeper");
    }

    private static Object read(String text) {
        JsonReader r = new JsonReader();
        byte[] b = bytes(text);
        r.reset(b, 0, b.length);
        Object value = r.readValue();
        r.expectEnd();
        return value;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
