package dev.changepipe.source.cdc;

import java.util.ArrayList;
import java.util.List;

/** A key's text values as one string for a checkpoint attribute: each value as {@code <length>:<text>}. */
final class KeyText {

    private KeyText() {
    }

    static String encode(String[] values) {
        StringBuilder out = new StringBuilder();
        for (String v : values) {
            out.append(v.length()).append(':').append(v);
        }
        return out.toString();
    }

    static String[] decode(String text) {
        List<String> out = new ArrayList<>();
        int at = 0;
        while (at < text.length()) {
            int colon = text.indexOf(':', at);
            if (colon < 0) {
                throw new IllegalArgumentException("not an encoded key: " + text);
            }
            int length = Integer.parseInt(text.substring(at, colon));
            out.add(text.substring(colon + 1, colon + 1 + length));
            at = colon + 1 + length;
        }
        return out.toArray(String[]::new);
    }
}
