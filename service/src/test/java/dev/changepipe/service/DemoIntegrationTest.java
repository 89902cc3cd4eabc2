package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code ./pipeline demo} as a user runs it (smaller, to keep the test short): it starts its own
 * ClickHouse, replicates, prints the summary and the checked state, and stops what it started.
 */
class DemoIntegrationTest {

    @Test
    void demoReplicatesTheGeneratedLogPrintsTheSummaryAndStopsWhatItStarted() throws Exception {
        var demo = ServiceUnderTest.launcher(Map.of(), "demo", "--changes", "20000");
        assertThat(demo.getKey()).as(demo.getValue()).isZero();
        assertThat(demo.getValue())
                .contains("rows replicated : 20,000")
                .containsPattern("rate            : [\\d,]+ rows/s")
                .contains("dead letters    : 3")
                .contains("FROM demo.shop_order FINAL WHERE is_deleted = 0")
                .contains(": MATCH")
                .contains("Stopped ClickHouse and removed its directory");
        var help = ServiceUnderTest.launcher(Map.of(), "demo", "--help");
        assertThat(help.getValue()).contains("--keep");
    }
}
