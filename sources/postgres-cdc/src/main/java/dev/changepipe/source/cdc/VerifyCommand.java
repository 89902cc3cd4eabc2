package dev.changepipe.source.cdc;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.verify.VerifyOptions;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ./pipeline verify --config FILE [--pipeline P] [--table T] [--repair]} ({@link VerifyOptions})
 * for postgres-cdc pipelines: asks the running service that the configuration describes to compare each
 * pipeline's tables with its sinks ({@code POST /api/pipelines/<name>/verify}), and prints its report. A
 * repair re-reads the keys that differ through the pipeline's stream, so the service must run. Exit 0
 * when every table is equal, 1 when keys differ (repaired or not) or a table cannot be compared.
 */
final class VerifyCommand extends VerifyOptions.Command {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** A verify reads whole tables; its answer comes once it is done. */
    private static final Duration VERIFY_TIMEOUT = Duration.ofHours(2);

    @Override
    protected int verify(VerifyOptions o, Context context) {
        List<HttpEndpoint.Section> sections = context.sections(o.config).stream()
                .filter(s -> o.pipeline == null || s.pipeline().equals(o.pipeline))
                .toList();
        if (sections.isEmpty()) {
            throw new ConfigException(o.pipeline == null ? "pipelines" : "--pipeline", o.pipeline == null
                    ? "no pipeline has a postgres-cdc source: nothing to verify"
                    : "no postgres-cdc pipeline named '" + o.pipeline + "'");
        }
        PrintWriter out = context.out();
        boolean equal = true;
        for (HttpEndpoint.Section section : sections) {
            Map<String, Object> body = new LinkedHashMap<>();
            if (o.table != null) {
                body.put("table", o.table);
            }
            body.put("repair", o.repair);
            JsonNode answer;
            try {
                answer = JSON.readTree(context.askService("POST", "/api/pipelines/"
                        + URLEncoder.encode(section.pipeline(), StandardCharsets.UTF_8) + "/verify",
                        JSON.writeValueAsString(body), VERIFY_TIMEOUT));
            } catch (java.io.IOException e) {
                throw new IllegalStateException("the service's answer is not JSON: " + e.getMessage(), e);
            }
            out.print(answer.path("report").asText());
            equal &= answer.path("equal").asBoolean(false);
        }
        out.println(equal ? "equal: every table compared holds what its source holds"
                : "not equal: tables differ or could not be compared (above)"
                        + (o.repair ? "; the keys that differ were written again: run verify again to see it" : ""));
        out.flush();
        return equal ? OK : FAILED;
    }
}
