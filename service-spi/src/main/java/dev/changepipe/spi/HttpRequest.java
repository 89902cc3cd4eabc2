package dev.changepipe.spi;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * A request to an {@link HttpEndpoint}: its method ({@code GET}, {@code POST}...), path, decoded query
 * parameters and body (read in full, within the server's limit).
 */
public record HttpRequest(String method, String path, Map<String, List<String>> query, byte[] body) {

    /** Refuses another method with 405; {@code HEAD} is allowed wherever {@code GET} is. */
    public void only(String allowed) {
        if (!method.equals(allowed) && !(allowed.equals("GET") && method.equals("HEAD"))) {
            throw new HttpException(405, "method " + method + " not allowed here; expected " + allowed);
        }
    }

    /** The body as a JSON object; 400 when it is empty, malformed or not an object. */
    public JsonNode json() {
        if (body.length == 0) {
            throw new HttpException(400, "expected a JSON body");
        }
        try {
            JsonNode json = HttpReply.JSON.readTree(body);
            if (json == null || !json.isObject()) {
                throw new HttpException(400, "expected a JSON object");
            }
            return json;
        } catch (IOException e) {
            throw new HttpException(400, "malformed JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    /**
     * A string field of a JSON object: {@code null} when absent and not {@code required}; 400 when it is
     * required and absent, or not a non-empty string.
     */
    public static String text(JsonNode json, String field, boolean required) {
        JsonNode v = json.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw new HttpException(400, "field '" + field + "' is required (a string)");
            }
            return null;
        }
        if (!v.isTextual() || v.asText().isEmpty()) {
            throw new HttpException(400, "field '" + field + "' must be a non-empty string");
        }
        return v.asText();
    }

    /** Percent-decodes a part of a path; a malformed escape is a 400 naming it. */
    public static String decode(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "malformed percent-encoding in '" + s + "': " + e.getMessage());
        }
    }
}
