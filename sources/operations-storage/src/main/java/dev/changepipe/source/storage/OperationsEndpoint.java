package dev.changepipe.source.storage;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.PipelineException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.HttpException;
import dev.changepipe.spi.HttpReply;
import dev.changepipe.spi.HttpRequest;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code POST /api/operations} with {@code {"importKey": "app.model", "operation": "update", "pks":
 * ["1", 2], "dbAlias": "default", "pipeline": "..."}} ({@code dbAlias} defaults to {@code default};
 * {@code pipeline} is needed only when several pipelines sync from a storage): registers operations for
 * applications not on the JVM. Answers {@code {"registered": n}}, how many were newly queued, once Redis
 * holds them; 503 when the storage failed (Redis unreachable, say), which the client retries. Each
 * pipeline's storage is opened on first use, on the resources the service shares (the HTTP server's
 * event loops), and closed with the endpoint.
 */
final class OperationsEndpoint implements HttpEndpoint {

    private final Map<String, StorageSyncSourceProvider.Storage> storages;
    private final Map<String, OperationsStorage> open = new LinkedHashMap<>();
    private final ClientResources resources;

    OperationsEndpoint(Map<String, StorageSyncSourceProvider.Storage> storages, ClientResources resources) {
        this.storages = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(storages));
        this.resources = resources;
    }

    @Override
    public String prefix() {
        return "/api/operations";
    }

    private synchronized OperationsStorage storage(String pipeline) {
        return open.computeIfAbsent(pipeline, p -> storages.get(p).connect(resources));
    }

    @Override
    public Mono<HttpReply> handle(HttpRequest request) {
        if (!request.path().equals("/api/operations")) {
            throw new HttpException(404, "no such endpoint: " + request.path());
        }
        request.only("POST");
        JsonNode json = request.json();
        String pipeline = HttpRequest.text(json, "pipeline", false);
        if (pipeline == null) {
            if (storages.size() > 1) {
                throw new HttpException(400, "field 'pipeline' is required: several pipelines sync from a storage: "
                        + String.join(", ", storages.keySet()));
            }
            pipeline = storages.keySet().iterator().next();
        } else if (!storages.containsKey(pipeline)) {
            throw new HttpException(404, "pipeline '" + pipeline + "' does not sync from an operations storage");
        }
        String pipelineName = pipeline;
        String importKey = HttpRequest.text(json, "importKey", true);
        if (!storages.get(pipeline).importKeys().contains(importKey)) {
            throw new HttpException(400, "import key '" + importKey + "' is not configured in pipeline "
                    + pipeline + "; expected one of: " + String.join(", ", storages.get(pipeline).importKeys()));
        }
        Operation.Type type;
        try {
            type = Operation.Type.fromWireName(HttpRequest.text(json, "operation", true));
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "field 'operation' must be insert, update or delete");
        }
        String alias = HttpRequest.text(json, "dbAlias", false);
        try {
            alias = Operation.checkAlias(alias == null ? Operation.DEFAULT_DB_ALIAS : alias);
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "field 'dbAlias': " + e.getMessage());
        }
        JsonNode pks = json.get("pks");
        if (pks == null || !pks.isArray() || pks.isEmpty()) {
            throw new HttpException(400, "field 'pks' is required: a non-empty list of primary keys");
        }
        List<String> keys = new ArrayList<>();
        for (JsonNode pk : pks) {
            if (!(pk.isTextual() || pk.isIntegralNumber()) || pk.asText().isEmpty()) {
                throw new HttpException(400, "field 'pks' must hold strings or integers, got " + pk);
            }
            keys.add(pk.asText());
        }
        return storage(pipeline).registerOperations(importKey, type, alias, keys)
                .onErrorMap(PipelineException.class, e -> new HttpException(503,
                        "the operations storage of pipeline " + pipelineName + " failed (registering again is "
                                + "harmless): " + e.getMessage()))
                .map(n -> HttpReply.json(200, Map.of("registered", n)));
    }

    /** Closes the storages opened, waiting a few seconds at most (the event loops they use go next). */
    @Override
    public synchronized Mono<Void> close() {
        return Flux.concat(open.values().stream().map(s -> s.close().onErrorResume(e -> Mono.empty())).toList())
                .then()
                .timeout(Duration.ofSeconds(5), Mono.empty())
                .onErrorResume(e -> Mono.empty());
    }
}
