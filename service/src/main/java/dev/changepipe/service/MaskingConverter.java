package dev.changepipe.service;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Logback converter ({@code %masked} in logback.xml): the formatted message, with the exception chain
 * (class and message of each cause) appended on the same line, so that every event is one line, and
 * with secrets masked. Public because Logback instantiates it.
 *
 * <p>Secrets are masked by value, never guessed from the text: the configuration registers every
 * value that is secret ({@link #secret(String)}; {@link ConfigLoader} registers the values of
 * {@code password}, {@code token}, {@code secret} and {@code authorization} keys and the password of
 * {@code user:password@} in URLs), and each occurrence of one becomes {@code ***}. Values shorter than
 * {@value #MIN_SECRET_LENGTH} characters are not registered: masking them would garble every line.
 */
public final class MaskingConverter extends ClassicConverter {

    static final int MIN_SECRET_LENGTH = 4;
    private static final Set<String> SECRETS = ConcurrentHashMap.newKeySet();
    private static volatile List<String> longestFirst = List.of();

    @Override
    public String convert(ILoggingEvent event) {
        StringBuilder b = new StringBuilder(event.getFormattedMessage() == null ? "" : event.getFormattedMessage());
        IThrowableProxy t = event.getThrowableProxy();
        int depth = 0;
        while (t != null && depth++ < 8) {
            b.append(depth == 1 ? " | " : " <- ").append(t.getClassName());
            if (t.getMessage() != null) {
                b.append(": ").append(t.getMessage());
            }
            t = t.getCause();
        }
        return mask(b.toString());
    }

    /** Registers a secret value: from now on it is printed as {@code ***}. */
    static void secret(String value) {
        if (value != null && value.length() >= MIN_SECRET_LENGTH && SECRETS.add(value)) {
            longestFirst = SECRETS.stream().sorted(Comparator.comparingInt(String::length).reversed()).toList();
        }
    }

    /** Registers the password of a {@code scheme://user:password@host} URL, raw and percent-decoded. */
    static void secretsOfUrl(String value) {
        int scheme = value.indexOf("://");
        if (scheme < 0) {
            return;
        }
        int start = scheme + 3;
        int end = value.length();
        for (char stop : new char[] {'/', '?', '#'}) {
            int i = value.indexOf(stop, start);
            if (i >= 0 && i < end) {
                end = i;
            }
        }
        int at = value.lastIndexOf('@', end - 1);
        if (at < start) {
            return;
        }
        int colon = value.indexOf(':', start);
        if (colon < 0 || colon > at) {
            return;
        }
        String password = value.substring(colon + 1, at);
        secret(password);
        try {
            secret(URLDecoder.decode(password, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            // not percent-encoded: the raw value is registered
        }
    }

    /** Whether a configuration key holds a secret by its name ({@code password}, {@code http.token}...). */
    static boolean isSecretKey(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        return k.contains("password") || k.equals("passwd") || k.equals("pwd") || k.contains("token")
                || k.contains("secret") || k.equals("authorization");
    }

    /** The text with the registered secrets replaced by {@code ***} and line breaks by spaces. */
    public static String mask(String text) {
        return maskSecrets(text.replace("\r\n", " ").replace('\n', ' ').replace('\r', ' '));
    }

    /**
     * A writer that prints to {@code target} with the registered secrets replaced by {@code ***}, a line
     * at a time (a line is held until its end or a {@code flush}); closing it flushes and leaves
     * {@code target} open.
     */
    static PrintWriter masking(PrintWriter target) {
        return new PrintWriter(new Writer() {
            private final StringBuilder line = new StringBuilder();

            @Override
            public void write(char[] chars, int offset, int length) {
                for (int i = offset; i < offset + length; i++) {
                    line.append(chars[i]);
                    if (chars[i] == '\n') {
                        flush();
                    }
                }
            }

            @Override
            public void flush() {
                if (!line.isEmpty()) {
                    target.write(maskSecrets(line.toString()));
                    line.setLength(0);
                }
                target.flush();
            }

            @Override
            public void close() {
                flush();
            }
        });
    }

    /** The text with the registered secrets replaced by {@code ***}; line breaks kept. */
    public static String maskSecrets(String text) {
        String s = text;
        for (String secret : longestFirst) {
            if (s.contains(secret)) {
                s = s.replace(secret, "***");
            }
        }
        return s;
    }
}
