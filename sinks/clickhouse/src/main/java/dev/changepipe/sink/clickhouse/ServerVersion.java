package dev.changepipe.sink.clickhouse;

/**
 * A ClickHouse server version, for feature detection: nothing newer than 18.16 is used without
 * checking it here.
 *
 * @param major e.g. 18
 * @param minor e.g. 16
 * @param text as the server reported it
 */
record ServerVersion(int major, int minor, String text) {

    /** Parses {@code 18.16.1} or {@code 24.8.4.13}. */
    static ServerVersion parse(String text) {
        String[] parts = text.trim().split("\\.");
        try {
            return new ServerVersion(Integer.parseInt(parts[0]), parts.length > 1 ? Integer.parseInt(parts[1]) : 0, text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a ClickHouse version: " + text, e);
        }
    }

    boolean atLeast(int major, int minor) {
        return this.major > major || (this.major == major && this.minor >= minor);
    }

    /** {@code insert_deduplication_token} exists since 22.2. */
    boolean supportsInsertDeduplicationToken() {
        return atLeast(22, 2);
    }

    @Override
    public String toString() {
        return text;
    }
}
