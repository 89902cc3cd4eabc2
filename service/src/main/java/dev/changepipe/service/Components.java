package dev.changepipe.service;

import dev.changepipe.core.Checkpoint;
import dev.changepipe.core.CheckpointStore;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.FileCheckpointStore;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Pipeline;
import dev.changepipe.core.PipelineMetrics;
import dev.changepipe.core.PusherFactory;
import dev.changepipe.core.Sink;
import dev.changepipe.core.Source;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import dev.changepipe.pusher.SyncPusher;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.HttpEndpoint;
import dev.changepipe.spi.ServiceContext;
import dev.changepipe.spi.Settings;
import dev.changepipe.spi.SinkProvider;
import dev.changepipe.spi.SourceProvider;
import dev.changepipe.spi.WritablePaths;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Turns the configuration into pipelines: finds the source and sink providers with
 * {@link ServiceLoader}, and for each pipeline makes a fresh {@link Pipeline} (fresh source, sinks and
 * pusher) whenever one is needed, so that a restarted run never reuses closed parts.
 */
final class Components {

    private final Map<String, SourceProvider> sources;
    private final Map<String, SinkProvider> sinks;
    private final ServiceConfig config;
    private final Path baseDirectory;
    private final MeterRegistry registry;
    /**
     * What providers register their meters in: the service's registry, through a view per pipeline
     * that tags every meter with {@code pipeline}, so that a source's or sink's meters carry it even
     * when the component does not know its pipeline.
     */
    private final Map<String, MeterRegistry> pipelineRegistries = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, DeadLetterStore> deadLetterStores = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<Class<?>, Object> shared = new java.util.concurrent.ConcurrentHashMap<>();
    /** The instances' coordination ({@code instances:}), or {@code null} when this instance runs alone. */
    private final Instances instances;

    Components(ServiceConfig config, Path baseDirectory, MeterRegistry registry, ClassLoader loader) {
        this.config = config;
        this.baseDirectory = baseDirectory;
        this.registry = registry;
        this.sources = providers(SourceProvider.class, loader, SourceProvider::type);
        this.sinks = providers(SinkProvider.class, loader, SinkProvider::type);
        this.instances = config.instances() == null ? null : new Instances(config.instances(),
                config.connections().get("redis").get(config.instances().redis()).string("uri"), registry);
    }

    /** The coordination of several instances ({@code instances:}), or {@code null}. */
    Instances instances() {
        return instances;
    }

    /** The providers by type; a broken plugin registration is a configuration error, not a crash. */
    private static <P> Map<String, P> providers(Class<P> kind, ClassLoader loader, java.util.function.Function<P, String> type) {
        Map<String, P> out = new LinkedHashMap<>();
        try {
            for (P p : ServiceLoader.load(kind, loader)) {
                P earlier = out.putIfAbsent(type.apply(p), p);
                if (earlier != null) {
                    throw new ConfigException("", "two " + kind.getSimpleName() + "s have the type '" + type.apply(p)
                            + "': " + earlier.getClass().getName() + " and " + p.getClass().getName());
                }
            }
        } catch (java.util.ServiceConfigurationError e) {
            throw new ConfigException("", "cannot load a plugin: " + e.getMessage());
        }
        return out;
    }

    MeterRegistry registry() {
        return registry;
    }

    List<String> sourceTypes() {
        return List.copyOf(sources.keySet());
    }

    List<String> sinkTypes() {
        return List.copyOf(sinks.keySet());
    }

    /** A pipeline built from its configuration, with the probes its sinks registered. */
    record Built(Pipeline pipeline, Source source, List<Sink> sinks, Map<String, Mono<Void>> probes) {
    }

    /**
     * The dead-letter store of a pipeline, {@code <checkpoints.directory>/<pipeline name>.dead-letters.jsonl},
     * one for the life of the service (it remembers which letters it holds).
     */
    DeadLetterStore deadLetters(String pipeline) {
        return deadLetterStores.computeIfAbsent(pipeline, p -> FileDeadLetterStore.open(
                deadLetterFile(p), p, registry));
    }

    Path deadLetterFile(String pipeline) {
        return checkpointDirectory().resolve(pipeline + ".dead-letters.jsonl");
    }

    /**
     * The checkpoint store of a pipeline: {@code <checkpoints.directory>/<pipeline name>}, or Redis when
     * several instances share the pipelines ({@code instances:}).
     */
    CheckpointStore checkpoints(String pipeline) {
        return instances == null ? new LazyCheckpointStore(checkpointDirectory().resolve(pipeline))
                : new RedisCheckpointStore(pipeline, instances::redis);
    }

    Path checkpointDirectory() {
        return baseDirectory.resolve(config.checkpointDirectory());
    }

    /** Builds a fresh pipeline; no I/O happens until it runs. */
    Built build(ServiceConfig.PipelineConfig pc) {
        return build(pc, null);
    }

    /**
     * Builds a fresh pipeline whose sinks write only while {@code lease} is valid (none: always); no
     * I/O happens until it runs.
     */
    Built build(ServiceConfig.PipelineConfig pc, Instances.Lease lease) {
        Map<String, Mono<Void>> probes = new LinkedHashMap<>();
        Context context = new Context(pc.name(), checkpoints(pc.name()), probes);
        List<ConfigException.Problem> problems = new ArrayList<>();
        Source source = ConfigLoader.attempt(problems, () -> {
            Settings s = copy(pc.source());
            String type = s.string("type");
            SourceProvider provider = sources.get(type);
            if (provider == null) {
                throw new ConfigException(s.pathOf("type"), "unknown source type '" + type + "'; expected one of: "
                        + String.join(", ", sources.keySet()) + " (or a plugin's type, see docs/service.md)");
            }
            return provider.create(s, context);
        });
        List<Sink> built = buildSinks(pc, context, problems);
        if (!problems.isEmpty()) {
            closeQuietly(source, built);
            throw new ConfigException(problems);
        }
        context.sinks = built.stream().map(sink -> sink instanceof MeteredSink m ? m.delegate() : sink).toList();
        Pipeline.Builder b = Pipeline.builder(pc.name())
                .source(source)
                .pusher(pusher(pc.pusher()))
                .meterRegistry(registry)
                .drainTimeout(pc.drainTimeout());
        built.forEach(sink -> b.sink(lease == null ? sink : instances.leased(sink, lease)));
        return new Built(b.build(), source, List.copyOf(built), probes);
    }

    private List<Sink> buildSinks(ServiceConfig.PipelineConfig pc, Context context,
            List<ConfigException.Problem> problems) {
        List<Sink> built = new ArrayList<>();
        for (Settings raw : pc.sinks()) {
            Sink sink = ConfigLoader.attempt(problems, () -> {
                Settings s = copy(raw);
                String type = s.string("type");
                SinkProvider provider = sinks.get(type);
                if (provider == null) {
                    throw new ConfigException(s.pathOf("type"), "unknown sink type '" + type + "'; expected one of: "
                            + String.join(", ", sinks.keySet()) + " (or a plugin's type, see docs/service.md)");
                }
                return new MeteredSink(provider.create(s, context), pc.name(), registry);
            });
            if (sink != null) {
                built.add(sink);
            }
        }
        return built;
    }

    /**
     * The sinks of a pipeline alone, whose refused items go to {@code deadLetters} instead of the
     * pipeline's store (a replay of dead letters, which must see what is refused again).
     */
    List<Sink> sinks(ServiceConfig.PipelineConfig pc, DeadLetterStore deadLetters) {
        List<ConfigException.Problem> problems = new ArrayList<>();
        Context context = new Context(pc.name(), checkpoints(pc.name()), new LinkedHashMap<>(), deadLetters);
        List<Sink> built = buildSinks(pc, context, problems);
        if (!problems.isEmpty()) {
            closeQuietly(null, built);
            throw new ConfigException(problems);
        }
        return built;
    }

    /** A context for code outside a build (HTTP routes) that resolves a pipeline's connections. */
    ServiceContext context(String pipeline) {
        return new Context(pipeline, checkpoints(pipeline), new LinkedHashMap<>());
    }

    /** A fresh view of a pipeline's section, which tracks the keys read on it alone. */
    static Settings section(Settings s) {
        return copy(s);
    }

    /** Makes {@code value} what {@link ServiceContext#shared} answers for {@code type}. */
    <T> void share(Class<T> type, T value) {
        shared.put(type, type.cast(value));
    }

    /**
     * The pipelines' uses of each type, in file order: their {@code source:} sections ({@code sources}) or
     * their {@code sinks:} (a sink type used twice in a pipeline gives two sections), each with a fresh
     * view of the section and the pipeline's context.
     */
    Map<String, List<HttpEndpoint.Section>> sections(boolean sources) {
        Map<String, List<HttpEndpoint.Section>> byType = new LinkedHashMap<>();
        for (ServiceConfig.PipelineConfig pc : config.pipelines()) {
            ServiceContext context = context(pc.name());
            for (Settings raw : sources ? List.of(pc.source()) : pc.sinks()) {
                Settings section = copy(raw);
                byType.computeIfAbsent(section.string("type"), t -> new ArrayList<>())
                        .add(new HttpEndpoint.Section(pc.name(), section, context));
            }
        }
        return byType;
    }

    /**
     * The HTTP endpoints the providers add, each asked once with every pipeline that uses its type (a
     * sink type used twice in a pipeline gives two sections); two endpoints with the same prefix are a
     * configuration error.
     */
    List<HttpEndpoint> endpoints() {
        Map<String, List<HttpEndpoint.Section>> bySource = sections(true);
        Map<String, List<HttpEndpoint.Section>> bySink = sections(false);
        Map<String, HttpEndpoint> byPrefix = new LinkedHashMap<>();
        List<HttpEndpoint> all = new ArrayList<>();
        // an unknown type has no provider: validate reports it
        bySource.forEach((type, sections) -> {
            if (sources.containsKey(type)) {
                all.addAll(sources.get(type).endpoints(sections));
            }
        });
        bySink.forEach((type, sections) -> {
            if (sinks.containsKey(type)) {
                all.addAll(sinks.get(type).endpoints(sections));
            }
        });
        for (HttpEndpoint e : all) {
            HttpEndpoint earlier = byPrefix.putIfAbsent(e.prefix(), e);
            if (earlier != null) {
                throw new ConfigException("", "two endpoints serve " + e.prefix() + ": " + earlier.getClass().getName()
                        + " and " + e.getClass().getName());
            }
        }
        return all;
    }

    /**
     * Builds every pipeline once and closes it, and checks that the checkpoint directory (and each
     * pipeline's subdirectory) is writable or can be created: what {@code validate} and {@code run} do.
     */
    void validate() {
        List<ConfigException.Problem> problems = new ArrayList<>();
        validate(problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
    }

    /** {@link #validate()}, adding every problem to {@code problems}. */
    void validate(List<ConfigException.Problem> problems) {
        ConfigLoader.attempt(problems, () -> {
            WritablePaths.directory("checkpoints.directory", checkpointDirectory());
            for (ServiceConfig.PipelineConfig pc : config.pipelines()) {
                WritablePaths.directory("checkpoints.directory", checkpointDirectory().resolve(pc.name()));
            }
            return null;
        });
        for (ServiceConfig.PipelineConfig pc : config.pipelines()) {
            Built b = ConfigLoader.attempt(problems, () -> build(pc));
            if (b != null) {
                closeQuietly(b.source(), b.sinks());
            }
        }
    }

    /**
     * Reads the configuration file and builds every pipeline once, reporting every problem at once:
     * the environment's, the service's keys', and each source's and sink's, one per path (a value an
     * unset variable left empty is not reported again by its provider).
     */
    static Components load(ConfigLoader loader, Path file, Path baseDirectory, MeterRegistry registry, ClassLoader classLoader) {
        List<ConfigException.Problem> problems = new ArrayList<>();
        ServiceConfig config = loader.load(file, problems);
        Components components = config == null ? null
                : ConfigLoader.attempt(problems, () -> new Components(config, baseDirectory, registry, classLoader));
        if (components != null) {
            components.validate(problems);
        }
        if (!problems.isEmpty()) {
            Map<String, ConfigException.Problem> firstPerPath = new LinkedHashMap<>();
            problems.forEach(p -> firstPerPath.putIfAbsent(p.path(), p));
            throw new ConfigException(List.copyOf(firstPerPath.values()));
        }
        return components;
    }

    ServiceConfig config() {
        return config;
    }

    private static PusherFactory pusher(ServiceConfig.Pusher p) {
        return switch (p.kind()) {
            case SYNC -> SyncPusher.factory();
            case PARSE_QUEUE -> ParseQueuePusher.factory(ParseQueueOptions.builder()
                    .parallelism(p.parallelism())
                    .inFlightLimitBytes(p.inFlightLimit().bytes())
                    .maxBatchBytes(p.maxBatch().bytes())
                    .maxBatchChunks(p.maxBatchChunks())
                    .maxWritesInFlight(p.writesInFlight())
                    .minBatchBytes(p.minBatch().bytes())
                    .batchLinger(p.batchLinger())
                    .build());
        };
    }

    private static void closeQuietly(Source source, List<Sink> sinks) {
        List<Mono<Void>> closes = new ArrayList<>();
        if (source != null) {
            closes.add(source.close().onErrorResume(e -> Mono.empty()));
        }
        for (Sink s : sinks) {
            closes.add(s.close().onErrorResume(e -> Mono.empty()));
        }
        Flux.concat(closes).subscribe();
    }

    /** A fresh view of a section, so that each build tracks the keys it read itself. */
    private static Settings copy(Settings s) {
        return Settings.of(s.path(), s.node());
    }

    private final class Context implements ServiceContext {

        private final String pipeline;
        private final CheckpointStore checkpoints;
        private final Map<String, Mono<Void>> probes;

        private final DeadLetterStore deadLetters;
        /** The sinks of the run, without the service's meters around them, once built. */
        private volatile List<Sink> sinks = List.of();

        Context(String pipeline, CheckpointStore checkpoints, Map<String, Mono<Void>> probes) {
            this(pipeline, checkpoints, probes, null);
        }

        Context(String pipeline, CheckpointStore checkpoints, Map<String, Mono<Void>> probes,
                DeadLetterStore deadLetters) {
            this.pipeline = pipeline;
            this.checkpoints = checkpoints;
            this.probes = probes;
            this.deadLetters = deadLetters;
        }

        @Override
        public DeadLetterStore deadLetters() {
            return deadLetters != null ? deadLetters : Components.this.deadLetters(pipeline);
        }

        @Override
        public String pipelineName() {
            return pipeline;
        }

        @Override
        public CheckpointStore checkpoints() {
            return checkpoints;
        }

        @Override
        public MeterRegistry meterRegistry() {
            return pipelineRegistries.computeIfAbsent(pipeline, name -> {
                CompositeMeterRegistry tagged = new CompositeMeterRegistry();
                tagged.config().commonTags(PipelineMetrics.TAG_PIPELINE, name);
                return tagged.add(registry);
            });
        }

        @Override
        public Path baseDirectory() {
            return baseDirectory;
        }

        @Override
        public <C extends Record> C connection(String path, String name, Class<C> type) {
            dev.changepipe.spi.Connection kind = type.getAnnotation(dev.changepipe.spi.Connection.class);
            if (kind == null) {
                throw new IllegalArgumentException(type.getName() + " is not annotated with @Connection");
            }
            Map<String, Settings> ofKind = config.connections().getOrDefault(kind.value(), Map.of());
            Settings found = ofKind.get(name);
            if (found == null) {
                throw new ConfigException(path, "unknown " + kind.value() + " connection '" + name
                        + "'; expected one of: " + (ofKind.isEmpty() ? "(none under connections." + kind.value() + ")"
                        : String.join(", ", ofKind.keySet())));
            }
            return copy(found).bind(type);
        }

        @Override
        public List<Sink> sinks() {
            return sinks;
        }

        @Override
        public void readinessProbe(String name, Mono<Void> probe) {
            probes.put(name, probe);
        }

        @Override
        public <T> java.util.Optional<T> shared(Class<T> type) {
            return java.util.Optional.ofNullable(type.cast(shared.get(type)));
        }
    }

    /** Opens the directory on first use, so that {@code validate} creates nothing. */
    static final class LazyCheckpointStore implements CheckpointStore {

        private final Path directory;
        private volatile FileCheckpointStore store;

        LazyCheckpointStore(Path directory) {
            this.directory = directory;
        }

        private Mono<FileCheckpointStore> store() {
            return Mono.fromCallable(() -> {
                FileCheckpointStore s = store;
                if (s == null) {
                    synchronized (this) {
                        if (store == null) {
                            store = FileCheckpointStore.open(directory);
                        }
                        s = store;
                    }
                }
                return s;
            });
        }

        @Override
        public Mono<Long> claim(String origin) {
            return store().flatMap(s -> s.claim(origin));
        }

        @Override
        public Mono<Checkpoint> load(String origin) {
            return store().flatMap(s -> s.load(origin));
        }

        @Override
        public Mono<Void> save(Checkpoint checkpoint, long token) {
            return store().flatMap(s -> s.save(checkpoint, token));
        }

        @Override
        public Flux<Checkpoint> loadAll() {
            if (store == null && !java.nio.file.Files.isDirectory(directory)) {
                return Flux.empty();
            }
            return store().flatMapMany(FileCheckpointStore::loadAll);
        }

        @Override
        public Mono<Void> delete(String origin) {
            return store().flatMap(s -> s.delete(origin));
        }
    }
}
