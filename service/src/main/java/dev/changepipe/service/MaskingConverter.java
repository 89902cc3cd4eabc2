package dev.changepipe.service;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import java.util.regex.Pattern;

/**
 * Logback converter ({@code %masked} in logback.xml): the formatted message, with the exception chain
 * (class and message of each cause) appended on the same line, so that every event is one line, and
 * with secrets masked: values of {@code password}, {@code token}, {@code secret}, {@code authorization}
 * keys, bearer tokens and the password of {@code user:password@} in URLs become {@code ***}. Public
 * because Logback instantiates it.
 */
public final class MaskingConverter extends ClassicConverter {

    private static final Pattern KEY_VALUE = Pattern.compile(
            "(?i)(password|passwd|pwd|secret|token|authorization)([\"']?\\s*[:=]\\s*[\"']?)(?!\\*\\*\\*)([^\\s,;\"'&}\\]]+)");
    private static final Pattern BEARER = Pattern.compile("(?i)(bearer\\s+)[A-Za-z0-9._~+/=-]+");
    private static final Pattern URL_PASSWORD = Pattern.compile("(://[^:/@\\s]+:)[^@/\\s]+@");

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

    /** The text with secrets replaced by {@code ***} and line breaks by spaces. */
    public static String mask(String text) {
        return maskSecrets(text.replace("\r\n", " ").replace('\n', ' ').replace('\r', ' '));
    }

    /** The text with secrets replaced by {@code ***}; line breaks kept. */
    public static String maskSecrets(String text) {
        String s = text;
        s = BEARER.matcher(s).replaceAll("$1***");
        s = KEY_VALUE.matcher(s).replaceAll("$1$2***");
        s = URL_PASSWORD.matcher(s).replaceAll("$1***@");
        return s;
    }
}
