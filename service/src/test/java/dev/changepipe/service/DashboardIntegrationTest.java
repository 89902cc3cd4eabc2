package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.changepipe.testsupport.ClickHouseServer;
import dev.changepipe.testsupport.ClickHouseServerExtension;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard at {@code /} in a real headless browser (Debian's chromium; scripts/install-browser
 * installs it when missing): after the page refreshed itself, its DOM shows the running pipeline's
 * figures, its dead letters among them, per cause.
 */
@ExtendWith(ClickHouseServerExtension.class)
class DashboardIntegrationTest {

    private static String chromium() throws Exception {
        for (String candidate : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return candidate;
            }
        }
        Process install = new ProcessBuilder("bash", ServiceUnderTest.ROOT.resolve("scripts/install-browser").toString())
                .inheritIO().start();
        assertThat(install.waitFor(10, TimeUnit.MINUTES)).isTrue();
        assertThat(install.exitValue()).as("scripts/install-browser").isZero();
        return "/usr/bin/chromium";
    }

    /** Loads {@code url}, lets the page's timers run for {@code budgetMs} of virtual time, returns the DOM. */
    static String dumpDom(String url, Path profile, int budgetMs) throws Exception {
        Process p = new ProcessBuilder(chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--virtual-time-budget=" + budgetMs,
                "--dump-dom", url)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String dom = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return dom;
    }

    @Test
    void dashboardShowsARunningPipelinesFiguresAndRefreshesItself(ClickHouseServer ch, @TempDir Path dir) throws Exception {
        String db = ch.createDatabase("service_dashboard");
        Path log = dir.resolve("items.log");
        ServiceUnderTest.appendItems(log, 1, 1234, "e");
        Files.writeString(log, "not a change\n", StandardOpenOption.APPEND);
        Path config = dir.resolve("service.yaml");
        Files.writeString(config, ServiceUnderTest.config(dir, log, ch.httpUrl(), db, ""));
        try (ServiceUnderTest service = ServiceUnderTest.start(dir, config, dir.resolve("http.port"),
                Map.of("SERVICE_TOKEN", ServiceUnderTest.TOKEN))) {
            await().atMost(Duration.ofSeconds(60)).until(() -> service.pipeline("items").get("itemsWritten").asLong() == 1234
                    && service.pipeline("items").get("deadLetters").asLong() == 1);
            String dom = dumpDom(service.url("/"), Files.createDirectories(dir.resolve("chromium")), 4000);
            assertThat(dom).contains("<tr data-pipeline=\"items\">")
                    .contains("<td class=\"RUNNING\">RUNNING</td>")
                    .contains("<td class=\"items\">1,234</td>")
                    // the malformed line: counted, and under its cause
                    .containsPattern("<td class=\"dead\">1<div class=\"cause\">source/[a-z-]+: 1</div></td>")
                    .contains(log.toString())
                    .contains("updated 20");
            // the rate column is computed from two refreshes: filled means the page refreshed itself
            assertThat(dom).containsPattern("<td class=\"rate\">\\d[\\d,]*</td>");
            assertThat(service.terminate(Duration.ofSeconds(30))).isZero();
        }
    }
}
