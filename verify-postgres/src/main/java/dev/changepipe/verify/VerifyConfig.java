package dev.changepipe.verify;

import dev.changepipe.spi.Key;
import java.time.Duration;

/**
 * A source's {@code verify:} section: compare its tables with the sinks' while the pipeline runs, on a
 * schedule ({@link ScheduledVerify}, docs/verify.md).
 */
public record VerifyConfig(
        @Key(value = "a verify of the pipeline's tables (docs/verify.md) starts this long after the previous one"
                + " ended; no verify without it", required = true, defaultText = "required in `verify`, which is off when absent")
        Duration every,
        @Key("how long a key that differs must keep its source row before it counts as a difference")
        Duration settle,
        @Key("the pipeline is not ready (`/health/ready`) while the last verify found keys that differ")
        Boolean readiness) {

    /** What a pipeline without {@code verify:} runs on request only. */
    public static final VerifyConfig ON_REQUEST = new VerifyConfig(Duration.ZERO, null, null);

    public VerifyConfig {
        settle = settle == null ? Duration.ofSeconds(10) : settle;
        readiness = readiness != null && readiness;
    }
}
