package dev.changepipe.source.oplog;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.Instant;

/** The JSON reading shared by the built-in parsers: integers as Long, other numbers as BigDecimal. */
final class Json {

    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private static final ObjectReader READER = MAPPER.readerFor(Object.class);

    private Json() {
    }

    /** Reads one JSON value from the bytes; Maps, Lists, Long, BigDecimal, String, Boolean, null. */
    static Object read(byte[] bytes, int start, int length) {
        try {
            return READER.readValue(bytes, start, length);
        } catch (JsonProcessingException e) {
            throw new MalformedLineException("broken JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new MalformedLineException("broken JSON: " + e.getMessage(), e);
        }
    }

    /** Unix seconds (integer or decimal) as an instant. */
    static Instant unixTime(BigDecimal seconds) {
        BigDecimal whole = new BigDecimal(seconds.toBigInteger());
        long nanos = seconds.subtract(whole).movePointRight(9).longValue();
        return Instant.ofEpochSecond(whole.longValueExact(), nanos);
    }
}
