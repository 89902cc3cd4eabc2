package dev.changepipe.service;

import com.fasterxml.jackson.databind.annotation.JsonSerialize;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import dev.changepipe.core.Pipeline;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One pipeline's status as {@code GET /api/pipelines} and {@code GET /api/pipelines/<name>} answer it
 * (docs/service.md, "HTTP"); the dashboard and the {@code status} command read it. Jackson writes the
 * components in this order, under these names: they are the JSON's, so rename none of them.
 *
 * @param name the pipeline's name
 * @param state where its supervisor is
 * @param runState where the current (or last) run's pipeline is; {@code null} before any run
 * @param source the source's name; {@code null} before any run
 * @param sinks the sinks' names, in their configured order
 * @param inFlightBytes bytes admitted to the pusher and not yet acknowledged
 * @param inFlightChunks chunks admitted to the pusher and not yet acknowledged
 * @param itemsWritten items the first sink wrote, over every run of this process
 * @param lagBytes what the source has not read yet, in bytes (0 where it cannot tell)
 * @param sourceParts what each part of the source is doing, one line each, in the source's order (a
 *     postgres-cdc source's tables: snapshotting, streaming, stopped and why); empty for other sources
 * @param deadLetters the source's own dead letters plus every one the dead-letter store took (a
 *     counter's value, so a JSON number with a fraction, as in the metrics)
 * @param deadLettersByCause the store's dead letters since the service started, per {@code sink/cause},
 *     sorted
 * @param restarts runs restarted after a failure
 * @param lastError the last failure, or a sink's retry of a transient fault while it lasts; {@code null}
 *     when none
 * @param lastErrorAt when {@code lastError} happened (ISO-8601)
 * @param nextRunAt when a restarting pipeline runs again (ISO-8601)
 * @param origins the progress of every origin of the current (or last) run
 * @param offsets the saved checkpoints
 */
record PipelineReport(
        String name,
        PipelineSupervisor.State state,
        Pipeline.State runState,
        String source,
        List<String> sinks,
        long inFlightBytes,
        int inFlightChunks,
        long itemsWritten,
        long lagBytes,
        Map<String, String> sourceParts,
        double deadLetters,
        Map<String, Double> deadLettersByCause,
        long restarts,
        String lastError,
        @JsonSerialize(using = ToStringSerializer.class) Instant lastErrorAt,
        @JsonSerialize(using = ToStringSerializer.class) Instant nextRunAt,
        List<OriginReport> origins,
        List<CheckpointReport> offsets) {
}
