package dev.changepipe.source.cdc;

import dev.changepipe.core.Source;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SourceProvider;
import dev.changepipe.spi.CliCommand;
import dev.changepipe.verify.ScheduledVerify;
import dev.changepipe.verify.VerifyConfig;
import java.util.List;
import java.util.Map;

/**
 * {@code type: postgres-cdc}: PostgreSQL logical replication (docs/postgres-cdc.md); its keys are
 * {@link PostgresCdcConfig}'s. The slot and publication are named after the pipeline unless given; the
 * snapshot's progress is kept in the pipeline's checkpoint store; a truncate is applied to the sinks that
 * can ({@link dev.changepipe.spi.TableTruncate}) and is a pipeline dead letter for the others.
 * The pipeline is not ready while its slot lags more than {@code maxLag} or is being invalidated.
 */
public final class PostgresCdcSourceProvider implements SourceProvider {

    @Override
    public String type() {
        return "postgres-cdc";
    }

    @Override
    public Class<PostgresCdcConfig> options() {
        return PostgresCdcConfig.class;
    }

    @Override
    public List<CliCommand> commands() {
        return List.of(new VerifyCommand());
    }

    @Override
    public Source create(Settings s, ServiceContext context) {
        PostgresCdcConfig c = s.bind(PostgresCdcConfig.class);
        String url = context.connection(s.pathOf("connection"), c.connection(), PostgresCdcConfig.Postgres.class).url();
        String slot = c.slot() != null ? c.slot() : PostgresCdcOptions.defaultName(context.pipelineName());
        String publication = c.publication() != null ? c.publication() : slot;
        PostgresCdcOptions options = s.build(() -> new PostgresCdcOptions(context.pipelineName(), url, c.tables(), slot,
                publication, c.createPublication(), c.snapshot(), c.snapshotConnections(), c.snapshotRangeRows(), c.chunkRows(), c.chunkBytes().bytes(), c.linger(), c.statusInterval(), c.heartbeat(),
                context.checkpoints(), context.deadLetters(), context.meterRegistry(), context::sinks));
        PostgresCdcSource source = PostgresCdcSource.create(options);
        context.readinessProbe("replication slot " + slot + " of pipeline " + context.pipelineName(),
                source.health(c.maxLag().bytes()));
        // on request (POST /api/pipelines/<name>/verify, ./pipeline verify) always, on a schedule with `verify:`
        ScheduledVerify verify = new ScheduledVerify(source.verifiedTables(), Map.of("postgres", url), context,
                c.verify() != null ? c.verify() : VerifyConfig.ON_REQUEST, source::repair);
        if (c.verify() != null && c.verify().readiness()) {
            context.readinessProbe("verify of pipeline " + context.pipelineName(), verify.probe());
        }
        source.verifyWith(verify);
        return source;
    }
}
