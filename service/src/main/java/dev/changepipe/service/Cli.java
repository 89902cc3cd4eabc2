package dev.changepipe.service;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import io.lettuce.core.resource.ClientResources;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import reactor.netty.DisposableServer;

/** The picocli commands. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. */
@Command(name = "pipeline", mixinStandardHelpOptions = true, version = "changepipe 0.1.0",
        description = "changepipe: replicate application changes into ClickHouse, Redis and PostgreSQL.",
        subcommands = {Cli.Demo.class, Cli.Run.class, Cli.Validate.class, Cli.Status.class, Cli.Offsets.class, Cli.Resync.class,
                DeadLettersCommand.class, OptionsCommand.class})
final class Cli implements Callable<Integer> {

    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;

    @Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * The commands, named as the user called them: {@code pipeline} (the repository's launcher), or the
     * {@code changepipe.command} system property (the distribution's {@code bin/changepipe} sets it). The
     * service's own, then those the providers on the class path add ({@link ContributedCommand}), then
     * {@code help}.
     */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Cli());
        String name = System.getProperty("changepipe.command");
        if (name != null && !name.isBlank()) {
            cl.setCommandName(name);
        }
        ContributedCommand.addAll(cl, Cli.class.getClassLoader(), System.err);
        cl.addSubcommand(CommandLine.HelpCommand.class);
        // after every subcommand was added: the handler is set on those there are
        return cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println(cmd.getCommandSpec().root().name() + ": "
                    + MaskingConverter.maskSecrets(String.valueOf(e.getMessage())));
            return e instanceof ConfigException ? USAGE : FAILED;
        });
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return USAGE;
    }

    /** The JVM's and the process's meters on {@code /metrics}: memory, GC, threads, CPU, uptime, classes. */
    static void bindJvmMeters(MeterRegistry registry, JvmGcMetrics gc) {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
    }

    static void setLogLevel(String level) {
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(Level.toLevel(level, Level.INFO));
        }
    }

    static Path baseDirectory(Path configFile) {
        Path parent = configFile.toAbsolutePath().getParent();
        return parent == null ? Path.of("").toAbsolutePath() : parent;
    }

    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "Runs the pipelines the configuration declares until stopped (SIGTERM or Ctrl-C: reading "
                    + "stops, in-flight changes drain, checkpoints are saved, exit 0), or until every pipeline has "
                    + "completed a bounded source (a snapshot, a sync untilEmpty; exit 0).")
    static final class Run implements Callable<Integer> {

        private static final Logger log = LoggerFactory.getLogger(Run.class);

        @Option(names = {"-c", "--config"}, required = true, description = "the YAML configuration file")
        Path config;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            try (JvmGcMetrics gc = new JvmGcMetrics()) {
                Components components = Components.load(ConfigLoader.fromEnvironment(), config, baseDirectory(config),
                        registry, Cli.class.getClassLoader());
                ServiceConfig cfg = components.config();
                setLogLevel(cfg.logLevel());
                bindJvmMeters(registry, gc);
                ReplicationService service = new ReplicationService(cfg, components, registry);
                return serve(service, registry, log);
            }
        }
    }

    /** Starts the service and its HTTP server, waits for SIGTERM or SIGINT, drains, returns the exit code. */
    static int serve(ReplicationService service, PrometheusMeterRegistry registry, Logger log) throws Exception {
        ServiceConfig cfg = service.config();
        CountDownLatch stopRequested = new CountDownLatch(1);
        Signals.onTermination(stopRequested::countDown);
        DisposableServer http = null;
        HttpEventLoops loops = HttpEventLoops.create(cfg.http().ioThreads());
        service.components().share(ClientResources.class, loops.redis());
        List<HttpEndpoint> endpoints = service.components().endpoints();
        if (cfg.http().enabled()) {
            http = new AdminServer(service, registry, cfg.http(), loops.group(), endpoints)
                    .bind().toFuture().get(30, TimeUnit.SECONDS);
            if (cfg.http().portFile() != null) {
                Path tmp = cfg.http().portFile().resolveSibling(cfg.http().portFile().getFileName() + ".tmp");
                Files.writeString(tmp, Integer.toString(http.port()), StandardCharsets.UTF_8);
                Files.move(tmp, cfg.http().portFile(), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        AtomicBoolean allCompleted = new AtomicBoolean();
        service.allCompleted().subscribe(v -> { }, e -> { }, () -> {
            allCompleted.set(true);
            stopRequested.countDown();
        });
        service.start();
        log.info("service: started {} pipeline(s){}", service.supervisors().size(),
                http == null ? "" : ", http on " + cfg.http().host() + ":" + http.port());
        stopRequested.await();
        log.info(allCompleted.get() ? "service: every pipeline completed its bounded source" : "service: stop requested");
        Boolean drained = service.stop().toFuture().get();
        if (http != null) {
            http.disposeNow(Duration.ofSeconds(5));
        }
        AdminServer.close(endpoints);
        loops.close();
        log.info("service: stopped{}", Boolean.TRUE.equals(drained) ? "" : " (not drained in time)");
        return Boolean.TRUE.equals(drained) ? OK : FAILED;
    }

    @Command(name = "validate", mixinStandardHelpOptions = true,
            description = "Checks a configuration without running it: keys, values, references, environment variables.")
    static final class Validate implements Callable<Integer> {

        @Option(names = {"-c", "--config"}, required = true, description = "the YAML configuration file")
        Path config;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            setLogLevel("WARN");
            ServiceConfig cfg = Components.load(ConfigLoader.fromEnvironment(), config, baseDirectory(config),
                    new io.micrometer.core.instrument.simple.SimpleMeterRegistry(), Cli.class.getClassLoader()).config();
            out.println(config + ": valid (" + cfg.pipelines().size() + " pipeline(s): "
                    + String.join(", ", cfg.pipelines().stream().map(ServiceConfig.PipelineConfig::name).toList()) + ")");
            return OK;
        }
    }

    /** Where a running service is: {@code --url}, else the config's http settings, else the default. */
    static final class Target {
        @Option(names = "--url", description = "the service's HTTP address (default: from --config, else http://127.0.0.1:8080)")
        String url;

        @Option(names = {"-c", "--config"}, description = "the service's configuration (for its address and token)")
        Path config;

        ServiceConfig loaded() {
            return config == null ? null : ConfigLoader.fromEnvironment().load(config);
        }

        String url() {
            if (url != null) {
                return url.replaceAll("/+$", "");
            }
            ServiceConfig cfg = loaded();
            return cfg != null ? Cli.url(cfg) : "http://127.0.0.1:" + ServiceConfig.DEFAULT_PORT;
        }

        /** The bearer token: {@code given} (--token), else $CHANGEPIPE_TOKEN, else http.token of --config. */
        String token(String given) {
            return Cli.token(given, this::loaded);
        }
    }

    /** The {@code --token} option of the commands that change something in a running service. */
    static final class TokenOption {
        @Option(names = "--token", description = "bearer token (default: $CHANGEPIPE_TOKEN, else http.token of --config)")
        String token;
    }

    /**
     * The bearer token to ask a running service with: {@code given}, else $CHANGEPIPE_TOKEN, else the
     * configuration's {@code http.token} ({@code config} is read only then; it may give null).
     */
    static String token(String given, java.util.function.Supplier<ServiceConfig> config) {
        String t = given != null ? given : System.getenv("CHANGEPIPE_TOKEN");
        if (t == null) {
            ServiceConfig cfg = config.get();
            t = cfg == null ? null : cfg.http().token();
        }
        return t;
    }

    /**
     * The service's HTTP address as its configuration gives it (a wildcard host asked on the loopback;
     * port 0: the port the running service wrote to {@code portFile}).
     */
    static String url(ServiceConfig cfg) {
        String host = cfg.http().host().equals("0.0.0.0") ? "127.0.0.1" : cfg.http().host();
        int port = cfg.http().port();
        Path portFile = cfg.http().portFile();
        if (port == 0 && portFile != null && Files.exists(portFile)) {
            try {
                port = Integer.parseInt(Files.readString(portFile).trim());
            } catch (IOException | NumberFormatException e) {
                throw new IllegalStateException("cannot read the service's port from " + portFile + ": " + e.getMessage());
            }
        }
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    static JsonNode request(String method, String url, String token, String body) throws IOException, InterruptedException {
        return request(method, url, token, body, Duration.ofMinutes(2));
    }

    /** Asks the service; its answer's JSON, or an {@link IllegalStateException} with its error (4xx, 5xx). */
    static JsonNode request(String method, String url, String token, String body, Duration timeout)
            throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(timeout);
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> response;
        try {
            response = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.net.ConnectException e) {
            throw new IllegalStateException("no service answers at " + url + " (is it running, at that address?)");
        }
        JsonNode json = AdminServer.JSON.readTree(response.body());
        if (response.statusCode() >= 400) {
            throw new IllegalStateException(url + " answered " + response.statusCode() + ": "
                    + (json.has("error") ? json.get("error").asText() : response.body()));
        }
        return json;
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Shows the pipelines of a running service: state, items written, in flight, lag, errors.")
    static final class Status implements Callable<Integer> {

        @CommandLine.Mixin
        Target target = new Target();

        @Option(names = "--json", description = "print the raw JSON of /api/pipelines")
        boolean json;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            JsonNode status = request("GET", target.url() + "/api/pipelines", null, null);
            if (json) {
                out.println(AdminServer.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(status));
                return OK;
            }
            out.printf("%-20s %-11s %14s %12s %12s %8s %8s  %s%n", "PIPELINE", "STATE", "ITEMS", "IN FLIGHT",
                    "LAG", "DEAD", "RESTARTS", "LAST ERROR");
            for (JsonNode p : status.get("pipelines")) {
                out.printf("%-20s %-11s %,14d %,12d %,12d %,8d %,8d  %s%n", p.get("name").asText(),
                        p.get("state").asText(), p.get("itemsWritten").asLong(), p.get("inFlightBytes").asLong(),
                        p.get("lagBytes").asLong(), p.get("deadLetters").asLong(), p.get("restarts").asLong(),
                        p.get("lastError").isNull() ? "" : p.get("lastError").asText());
                p.path("sourceParts").fields().forEachRemaining(part ->
                        out.printf("  %-30s %s%n", part.getKey(), part.getValue().asText()));
            }
            return OK;
        }
    }

    @Command(name = "offsets", mixinStandardHelpOptions = true,
            description = "Shows the checkpointed offset of every origin of a running service, or resets one: "
                    + "--reset ORIGIN stops the pipelines that have it, forgets its checkpoint and starts them again, "
                    + "so the origin is read from the start. Needs the bearer token (--token, $CHANGEPIPE_TOKEN or "
                    + "http.token of --config).")
    static final class Offsets implements Callable<Integer> {

        @CommandLine.Mixin
        Target target = new Target();

        @Option(names = "--reset", paramLabel = "ORIGIN", description = "the origin whose checkpoint to forget")
        String reset;

        @Option(names = "--pipeline", description = "only in this pipeline")
        String pipeline;

        @CommandLine.Mixin
        TokenOption token = new TokenOption();

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            if (reset == null) {
                JsonNode offsets = request("GET", target.url() + "/api/offsets", null, null).get("offsets");
                out.printf("%-20s %-60s %-20s %s%n", "PIPELINE", "ORIGIN", "OFFSET", "POSITION");
                offsets.fields().forEachRemaining(e -> {
                    for (JsonNode c : e.getValue()) {
                        out.printf("%-20s %-60s %-20d %s%n", e.getKey(), c.get("origin").asText(), c.get("offset").asLong(),
                                c.path("position").asText(""));
                    }
                });
                return OK;
            }
            String t = target.token(token.token);
            Map<String, String> body = pipeline == null ? Map.of("origin", reset) : Map.of("origin", reset, "pipeline", pipeline);
            JsonNode result = request("POST", target.url() + "/api/offsets/reset", t, AdminServer.JSON.writeValueAsString(body));
            out.println("reset " + reset + " in " + result.get("reset"));
            return OK;
        }
    }

    @Command(name = "resync", mixinStandardHelpOptions = true,
            description = "Copies one table of a running pipeline's source again (postgres-cdc), while the others and "
                    + "the stream go on: its current rows are written with a version above every change streamed so "
                    + "far, then the rows of lower versions are removed from the targets that can. Progress is the "
                    + "table's line in `status`. Needs the bearer token (--token, $CHANGEPIPE_TOKEN or http.token of --config).")
    static final class Resync implements Callable<Integer> {

        @CommandLine.Mixin
        Target target = new Target();

        @Option(names = "--table", required = true, description = "the table (`table` or `schema.table`)")
        String table;

        @Option(names = "--pipeline", description = "the pipeline (default: the service's only one)")
        String pipeline;

        @CommandLine.Mixin
        TokenOption token = new TokenOption();

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            String name = pipeline;
            if (name == null) {
                // not guessed from the status lines: a storage-sync pipeline's verify results are lines too
                List<String> names = new java.util.ArrayList<>();
                for (JsonNode p : request("GET", target.url() + "/api/pipelines", null, null).get("pipelines")) {
                    names.add(p.get("name").asText());
                }
                if (names.size() != 1) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--pipeline: give one of " + names);
                }
                name = names.get(0);
            }
            String t = target.token(token.token);
            request("POST", target.url() + "/api/pipelines/" + java.net.URLEncoder.encode(name, StandardCharsets.UTF_8)
                    + "/resync", t, AdminServer.JSON.writeValueAsString(Map.of("part", table)));
            out.println("copying table " + table + " of pipeline " + name + " again; `status` shows its progress");
            return OK;
        }
    }

    @Command(name = "demo", mixinStandardHelpOptions = true,
            description = "Replicates a generated Django-style operation log (about a million changes with updates and "
                    + "deletes) into a ClickHouse it starts itself in a private directory on a free port, shows "
                    + "progress, prints a summary and a query, and stops what it started.")
    static final class Demo implements Callable<Integer> {

        @Option(names = "--keep", description = "leave ClickHouse (and its data) running and say how to connect")
        boolean keep;

        @Option(names = "--changes", defaultValue = "1000000", description = "how many changes to generate (default ${DEFAULT-VALUE})")
        int changes;

        @Option(names = "--http-port", defaultValue = "0", description = "port of the demo's HTTP admin and dashboard (default: a free one)")
        int httpPort;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            if (changes < 1000) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--changes: expected at least 1000");
            }
            return new dev.changepipe.service.Demo(spec.commandLine().getOut(), changes, keep, httpPort).run();
        }
    }
}
