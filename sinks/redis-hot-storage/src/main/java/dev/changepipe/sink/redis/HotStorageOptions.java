package dev.changepipe.sink.redis;

import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.OnBadRecord;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Options of the Redis hot storage, shared by its sink and its lookups (both must use the same
 * {@code keyPrefix} and {@code modelHashTag} to see the same keys). Immutable; build with
 * {@link #builder()}; every option is validated when built, with a message naming it.
 *
 * @param keyPrefix put before every key; a constant of the deployment, never taken from data
 * @param uniqueConstraints the unique constraints of each model ({@code app.model}); models not listed
 *     have none. Declared here, or read from PostgreSQL with {@link PostgresUniqueConstraints}
 * @param pipelineSize how many object changes the sink sends before waiting for their replies
 * @param tombstoneTtl how long a delete leaves a tombstone (one small expiring key holding the
 *     deleted version) behind, so that an older save replayed after the delete is refused instead of
 *     bringing the object back and taking unique values from newer objects. Should cover the
 *     longest replay a restart can cause. {@link Duration#ZERO} leaves nothing at all, at the cost of
 *     that protection
 * @param modelHashTag whether to wrap the model part of every key in a Redis Cluster hash tag
 *     ({@code {app.model}}), which puts all keys of a model in one slot
 * @param sinkName the sink's name in logs, metrics and errors
 * @param onBadRecord what happens to an item the sink refuses for its own content (a key or unique
 *     field value that cannot be part of a key, a negative version, values that cannot be encoded, a
 *     key of Redis holding something that is not a hot storage object)
 * @param deadLetters where such items go with {@link OnBadRecord#DEAD_LETTER}, or {@code null}: then
 *     they fail the write as with {@link OnBadRecord#FAIL}
 */
public record HotStorageOptions(
        String keyPrefix,
        Map<String, List<UniqueConstraint>> uniqueConstraints,
        int pipelineSize,
        Duration tombstoneTtl,
        boolean modelHashTag,
        String sinkName,
        OnBadRecord onBadRecord,
        DeadLetterStore deadLetters) {

    /** The default key prefix. */
    public static final String DEFAULT_KEY_PREFIX = "hot:";
    /** The default number of object changes in flight per round trip. */
    public static final int DEFAULT_PIPELINE_SIZE = 1000;
    /** By default a delete leaves a tombstone that expires after a day. */
    public static final Duration DEFAULT_TOMBSTONE_TTL = Duration.ofDays(1);
    /** By default keys carry no hash tag (single-node Redis). */
    public static final boolean DEFAULT_MODEL_HASH_TAG = false;
    /** The default sink name. */
    public static final String DEFAULT_SINK_NAME = "redis-hot-storage";

    public HotStorageOptions {
        Objects.requireNonNull(keyPrefix, "keyPrefix");
        if (modelHashTag && (keyPrefix.indexOf('{') >= 0 || keyPrefix.indexOf('}') >= 0)) {
            throw new IllegalArgumentException("keyPrefix must not contain '{' or '}' when modelHashTag is on: " + keyPrefix);
        }
        Objects.requireNonNull(uniqueConstraints, "uniqueConstraints");
        Map<String, List<UniqueConstraint>> copy = new LinkedHashMap<>();
        uniqueConstraints.forEach((model, constraints) -> {
            if (model == null || model.isEmpty()) {
                throw new IllegalArgumentException("uniqueConstraints: a model name must not be null or empty");
            }
            if (constraints == null || constraints.contains(null)) {
                throw new IllegalArgumentException("uniqueConstraints of " + model + ": must not be null or hold null");
            }
            List<UniqueConstraint> distinct = new ArrayList<>();
            for (UniqueConstraint c : constraints) {
                if (!distinct.contains(c)) {
                    distinct.add(c);
                }
            }
            copy.put(model, List.copyOf(distinct));
        });
        uniqueConstraints = Collections.unmodifiableMap(copy);
        if (pipelineSize < 1) {
            throw new IllegalArgumentException("pipelineSize must be at least 1: " + pipelineSize);
        }
        Objects.requireNonNull(tombstoneTtl, "tombstoneTtl");
        if (tombstoneTtl.isNegative()) {
            throw new IllegalArgumentException("tombstoneTtl must not be negative: " + tombstoneTtl);
        }
        if (!tombstoneTtl.isZero() && tombstoneTtl.toMillis() < 1) {
            throw new IllegalArgumentException("tombstoneTtl must be zero or at least 1 ms: " + tombstoneTtl);
        }
        Objects.requireNonNull(sinkName, "sinkName");
        if (sinkName.isBlank()) {
            throw new IllegalArgumentException("sinkName must not be blank");
        }
        Objects.requireNonNull(onBadRecord, "onBadRecord");
    }

    /** Options with every default and no unique constraints. */
    public static HotStorageOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.keyPrefix = keyPrefix;
        uniqueConstraints.forEach((model, list) -> b.uniqueConstraints.put(model, new ArrayList<>(list)));
        b.pipelineSize = pipelineSize;
        b.tombstoneTtl = tombstoneTtl;
        b.modelHashTag = modelHashTag;
        b.sinkName = sinkName;
        b.onBadRecord = onBadRecord;
        b.deadLetters = deadLetters;
        return b;
    }

    /** Whether refused items become dead letters (rather than failing the write). */
    boolean isolating() {
        return onBadRecord == OnBadRecord.DEAD_LETTER && deadLetters != null;
    }

    /** The unique constraints of a model; empty when it has none. */
    public List<UniqueConstraint> constraintsOf(String model) {
        return uniqueConstraints.getOrDefault(model, List.of());
    }

    /** Builds {@link HotStorageOptions}. Not thread-safe. */
    public static final class Builder {

        private String keyPrefix = DEFAULT_KEY_PREFIX;
        private final Map<String, List<UniqueConstraint>> uniqueConstraints = new LinkedHashMap<>();
        private int pipelineSize = DEFAULT_PIPELINE_SIZE;
        private Duration tombstoneTtl = DEFAULT_TOMBSTONE_TTL;
        private boolean modelHashTag = DEFAULT_MODEL_HASH_TAG;
        private String sinkName = DEFAULT_SINK_NAME;
        private OnBadRecord onBadRecord = OnBadRecord.DEAD_LETTER;
        private DeadLetterStore deadLetters;

        private Builder() {
        }

        public Builder keyPrefix(String keyPrefix) {
            this.keyPrefix = keyPrefix;
            return this;
        }

        /** Adds a unique constraint of a model. */
        public Builder uniqueConstraint(String model, UniqueConstraint constraint) {
            uniqueConstraints.computeIfAbsent(model, m -> new ArrayList<>()).add(constraint);
            return this;
        }

        /** Adds a unique constraint of a model on these fields. */
        public Builder uniqueConstraint(String model, String... fields) {
            return uniqueConstraint(model, UniqueConstraint.of(fields));
        }

        /** Adds the unique constraints of several models (such as those read from PostgreSQL). */
        public Builder uniqueConstraints(Map<String, List<UniqueConstraint>> constraints) {
            constraints.forEach((model, list) -> list.forEach(c -> uniqueConstraint(model, c)));
            return this;
        }

        public Builder pipelineSize(int pipelineSize) {
            this.pipelineSize = pipelineSize;
            return this;
        }

        public Builder tombstoneTtl(Duration tombstoneTtl) {
            this.tombstoneTtl = tombstoneTtl;
            return this;
        }

        public Builder modelHashTag(boolean modelHashTag) {
            this.modelHashTag = modelHashTag;
            return this;
        }

        public Builder sinkName(String sinkName) {
            this.sinkName = sinkName;
            return this;
        }

        /**
         * What happens to an item the sink refuses for its own content; default
         * {@link OnBadRecord#DEAD_LETTER} (when a {@link #deadLetters store} is set).
         */
        public Builder onBadRecord(OnBadRecord onBadRecord) {
            this.onBadRecord = Objects.requireNonNull(onBadRecord, "onBadRecord");
            return this;
        }

        /** Where refused items go; default none (they fail the write). */
        public Builder deadLetters(DeadLetterStore deadLetters) {
            this.deadLetters = deadLetters;
            return this;
        }

        public HotStorageOptions build() {
            return new HotStorageOptions(keyPrefix, uniqueConstraints, pipelineSize, tombstoneTtl, modelHashTag, sinkName,
                    onBadRecord, deadLetters);
        }
    }
}
