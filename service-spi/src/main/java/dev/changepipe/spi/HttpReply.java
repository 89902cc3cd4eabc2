package dev.changepipe.spi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The answer of an {@link HttpEndpoint}: status, content type and body. */
public record HttpReply(int status, String contentType, byte[] body) {

    /** The SPI's one mapper, for replies and request bodies. */
    static final ObjectMapper JSON = new ObjectMapper();

    /** {@code value} (maps, lists, strings, numbers, records) as an {@code application/json} body. */
    public static HttpReply json(int status, Object value) {
        try {
            return new HttpReply(status, "application/json", JSON.writeValueAsBytes(value));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }
}
