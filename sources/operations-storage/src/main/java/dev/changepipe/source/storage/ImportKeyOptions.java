package dev.changepipe.source.storage;

import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How one import key is synced. Immutable; build with {@link #builder(String)}.
 *
 * @param importKey the import key operations are registered under (django-clickhouse:
 *     {@code ClickHouseModel.get_import_key()}, the model's name by default)
 * @param model the table id the change items carry, {@code app.model}; default: the import key
 * @param table the PostgreSQL table the rows are fetched from, optionally schema-qualified
 *     ({@code schema.table}); default: the model with {@code .} replaced by {@code _} (Django's
 *     {@code app_model})
 * @param keyColumn the column the registered pks are values of; default {@value #DEFAULT_KEY_COLUMN}
 * @param batchSize most operations synced per round; default {@value #DEFAULT_BATCH_SIZE}
 * @param delay pause after a round that did not fill a batch (a full batch is followed at once), and
 *     before retrying a failed round; default 5 s (django-clickhouse's {@code SYNC_DELAY})
 */
public record ImportKeyOptions(String importKey, String model, String table, String keyColumn, int batchSize,
        Duration delay) {

    public static final String DEFAULT_KEY_COLUMN = "id";
    public static final int DEFAULT_BATCH_SIZE = 10_000;
    public static final Duration DEFAULT_DELAY = Duration.ofSeconds(5);

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_$]*");

    public ImportKeyOptions {
        OperationsStorage.checkImportKey(importKey);
        Objects.requireNonNull(model, "model");
        if (model.isBlank()) {
            throw new IllegalArgumentException("model of import key " + importKey + " must not be blank");
        }
        Objects.requireNonNull(table, "table");
        for (String part : table.split("\\.", -1)) {
            if (!IDENTIFIER.matcher(part).matches()) {
                throw new IllegalArgumentException("table of import key " + importKey
                        + " must be [schema.]name of letters, digits, _ and $, was '" + table + "'");
            }
        }
        if (table.split("\\.").length > 2) {
            throw new IllegalArgumentException("table of import key " + importKey + " has more than one '.': " + table);
        }
        Objects.requireNonNull(keyColumn, "keyColumn");
        if (!IDENTIFIER.matcher(keyColumn).matches()) {
            throw new IllegalArgumentException("keyColumn of import key " + importKey
                    + " must be letters, digits, _ and $, was '" + keyColumn + "'");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize of import key " + importKey + " must be positive, was " + batchSize);
        }
        if (delay == null || delay.isNegative()) {
            throw new IllegalArgumentException("delay of import key " + importKey + " must not be negative, was " + delay);
        }
    }

    public static Builder builder(String importKey) {
        return new Builder(importKey);
    }

    /** This import key's table as verify compares it. */
    dev.changepipe.verify.TableVerification.Table verified() {
        return new dev.changepipe.verify.TableVerification.Table("import key", importKey, table, model, keyColumn);
    }

    /** Builds {@link ImportKeyOptions}; {@link #build()} validates and names the bad option. */
    public static final class Builder {

        private final String importKey;
        private String model;
        private String table;
        private String keyColumn = DEFAULT_KEY_COLUMN;
        private int batchSize = DEFAULT_BATCH_SIZE;
        private Duration delay = DEFAULT_DELAY;

        private Builder(String importKey) {
            this.importKey = importKey;
        }

        public Builder model(String model) {
            this.model = model;
            return this;
        }

        public Builder table(String table) {
            this.table = table;
            return this;
        }

        public Builder keyColumn(String keyColumn) {
            this.keyColumn = keyColumn;
            return this;
        }

        public Builder batchSize(int batchSize) {
            this.batchSize = batchSize;
            return this;
        }

        public Builder delay(Duration delay) {
            this.delay = delay;
            return this;
        }

        public ImportKeyOptions build() {
            String m = model != null ? model : importKey;
            String t = table != null ? table : (m == null ? null : m.replace('.', '_'));
            return new ImportKeyOptions(importKey, m, t, keyColumn, batchSize, delay);
        }
    }
}
