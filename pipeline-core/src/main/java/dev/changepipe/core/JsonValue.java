package dev.changepipe.core;

import java.util.Objects;

/**
 * A value that is a JSON document as text, as a source that reads a database's {@code json}/{@code jsonb}
 * columns has it (postgres-cdc): a sink writes the document itself (a JSON column gets it as it is, a
 * text column its text, an embedded object stays an object), never the text as a JSON string. Its
 * {@link #toString} is the text, so a sink that knows nothing of it writes the text.
 *
 * @param text the JSON document
 */
public record JsonValue(String text) {

    public JsonValue {
        Objects.requireNonNull(text, "text");
    }

    @Override
    public String toString() {
        return text;
    }
}
