package dev.changepipe.service;

import com.fasterxml.jackson.databind.JsonNode;
import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.DeadLetter;
import dev.changepipe.core.DeadLetterStore;
import dev.changepipe.core.FileDeadLetterStore;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Sink;
import dev.changepipe.spi.ConfigException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./pipeline dead-letters list|replay}: the dead letters of a pipeline
 * ({@code <checkpoints.directory>/<pipeline>.dead-letters.jsonl}). A replay writes the items that
 * sinks refused to those sinks again, once the cause is fixed, with their original versions (so
 * nothing already delivered is duplicated or overwritten by an older version); the ids of the letters
 * that went through are appended to {@code <file>.replayed}, and {@code list} no longer shows them.
 */
@Command(name = "dead-letters", mixinStandardHelpOptions = true,
        description = "Lists a pipeline's dead letters, or writes the items sinks refused again once the cause is fixed.",
        subcommands = {DeadLettersCommand.ListLetters.class, DeadLettersCommand.Replay.class})
final class DeadLettersCommand implements Callable<Integer> {

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return Cli.USAGE;
    }

    /** The options both subcommands take. */
    static final class Where {
        @Option(names = {"-c", "--config"}, required = true, description = "the service's configuration")
        Path config;

        @Option(names = {"-p", "--pipeline"}, description = "the pipeline (default: the only one)")
        String pipeline;

        ServiceConfig cfg;
        Components components;
        ServiceConfig.PipelineConfig pc;

        void load() {
            cfg = ConfigLoader.fromEnvironment().load(config);
            Cli.setLogLevel("WARN");
            components = new Components(cfg, Cli.baseDirectory(config), new SimpleMeterRegistry(),
                    Cli.class.getClassLoader());
            List<ServiceConfig.PipelineConfig> all = cfg.pipelines();
            if (pipeline == null) {
                if (all.size() != 1) {
                    throw new ConfigException("--pipeline", "required: the configuration has " + all.size()
                            + " pipelines: " + String.join(", ", all.stream().map(ServiceConfig.PipelineConfig::name).toList()));
                }
                pc = all.get(0);
            } else {
                pc = all.stream().filter(p -> p.name().equals(pipeline)).findFirst().orElseThrow(() ->
                        new ConfigException("--pipeline", "unknown pipeline '" + pipeline + "'; expected one of: "
                                + String.join(", ", all.stream().map(ServiceConfig.PipelineConfig::name).toList())));
            }
        }

        Path file() {
            return components.deadLetterFile(pc.name());
        }

        Path replayedFile() {
            return file().resolveSibling(file().getFileName() + ".replayed");
        }

        /** The letters not replayed yet. */
        List<DeadLetter> open() {
            FileDeadLetterStore store = FileDeadLetterStore.open(file(), pc.name(), new SimpleMeterRegistry());
            List<DeadLetter> letters = new ArrayList<>(store.list());
            store.close();
            Set<String> replayed = replayed();
            letters.removeIf(l -> replayed.contains(l.id()));
            return letters;
        }

        Set<String> replayed() {
            Path f = replayedFile();
            if (!Files.exists(f)) {
                return Set.of();
            }
            try {
                return new HashSet<>(Files.readAllLines(f, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new IllegalStateException("cannot read " + f + ": " + e.getMessage(), e);
            }
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "Lists the dead letters not replayed yet: position, sink, table, key, cause and reason; "
                    + "--json prints them as stored.")
    static final class ListLetters implements Callable<Integer> {

        @CommandLine.Mixin
        Where where;

        @Option(names = "--json", description = "one JSON object per letter")
        boolean json;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            where.load();
            PrintWriter out = spec.commandLine().getOut();
            List<DeadLetter> letters = where.open();
            Map<String, Integer> byCause = new LinkedHashMap<>();
            for (DeadLetter l : letters) {
                String sink = l.sink() == null ? "source" : l.sink();
                byCause.merge(sink + "/" + l.cause(), 1, Integer::sum);
                if (json) {
                    out.println(AdminServer.JSON.writeValueAsString(l));
                } else {
                    out.printf("%s@%d  %s  %s %s  [%s] %s%n", l.origin(), l.position(), sink,
                            l.table() == null ? "-" : l.table(), l.key() == null ? "-" : l.key(), l.cause(), l.reason());
                }
            }
            if (!json) {
                out.printf("%d dead letter(s) in %s%s%n", letters.size(), where.file(),
                        byCause.isEmpty() ? "" : " " + byCause);
            }
            return Cli.OK;
        }
    }

    @Command(name = "replay", mixinStandardHelpOptions = true,
            description = "Writes the items the pipeline's sinks refused to those sinks again (run it once the cause "
                    + "is fixed: the table created, the column widened). Items refused again stay dead letters.")
    static final class Replay implements Callable<Integer> {

        @CommandLine.Mixin
        Where where;

        @Option(names = "--sink", description = "only the letters of this sink")
        String sink;

        @Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            where.load();
            PrintWriter out = spec.commandLine().getOut();
            Map<String, List<DeadLetter>> bySink = new LinkedHashMap<>();
            int sourceLetters = 0;
            for (DeadLetter l : where.open()) {
                if (l.sink() == null) {
                    sourceLetters++;
                } else if (sink == null || sink.equals(l.sink())) {
                    bySink.computeIfAbsent(l.sink(), k -> new ArrayList<>()).add(l);
                }
            }
            RefusedAgain refused = new RefusedAgain(where.pc.name());
            List<Sink> sinks = where.components.sinks(where.pc, refused);
            int written = 0;
            try {
                for (Map.Entry<String, List<DeadLetter>> e : bySink.entrySet()) {
                    Sink target = sinks.stream().filter(s -> s.name().equals(e.getKey())).findFirst().orElse(null);
                    if (target == null) {
                        out.printf("sink %s is no longer in pipeline %s: %d letter(s) skipped%n", e.getKey(),
                                where.pc.name(), e.getValue().size());
                        continue;
                    }
                    // one chunk per origin, so that a letter refused again has its original identity
                    Map<String, List<ChangeItem>> byOrigin = new LinkedHashMap<>();
                    for (DeadLetter l : e.getValue()) {
                        byOrigin.computeIfAbsent(l.origin(), o -> new ArrayList<>()).add(item(l));
                    }
                    List<Chunk> chunks = new ArrayList<>();
                    byOrigin.forEach((origin, items) -> chunks.add(Chunk.of(origin, Offset.of(0), items, true)));
                    target.writeBatch(chunks).block(Duration.ofMinutes(10));
                    List<String> done = new ArrayList<>();
                    for (DeadLetter l : e.getValue()) {
                        if (!refused.ids.contains(l.id())) {
                            done.add(l.id());
                        }
                    }
                    if (!done.isEmpty()) {
                        Files.write(where.replayedFile(), done, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                                StandardOpenOption.APPEND);
                    }
                    written += done.size();
                    out.printf("sink %s: %d written, %d refused again%n", e.getKey(), done.size(),
                            e.getValue().size() - done.size());
                }
            } finally {
                for (Sink s : sinks) {
                    s.close().onErrorResume(x -> reactor.core.publisher.Mono.empty()).block(Duration.ofSeconds(30));
                }
            }
            if (sourceLetters > 0) {
                out.printf("%d letter(s) of the source (lines that do not parse) are not replayed: fix the line "
                        + "and append it to the log again%n", sourceLetters);
            }
            out.printf("%d item(s) replayed%n", written);
            for (Iterator<String> i = refused.reasons.iterator(); i.hasNext(); ) {
                out.println("  refused again: " + i.next());
            }
            return refused.ids.isEmpty() ? Cli.OK : Cli.FAILED;
        }

        /** The item a sink's letter holds (its record is the item as JSON). */
        static ChangeItem item(DeadLetter l) throws IOException {
            JsonNode o = AdminServer.JSON.readTree(l.record());
            Map<String, Object> key = AdminServer.JSON.convertValue(o.get("key"), Map.class);
            Map<String, Object> values = AdminServer.JSON.convertValue(o.get("values"), Map.class);
            ChangeItem.Kind kind = ChangeItem.Kind.valueOf(o.get("kind").asText());
            return ChangeItem.of(kind, o.get("table").asText(), key, values, o.get("version").asLong());
        }
    }

    /** Collects what the sinks refuse during a replay, instead of storing it again. */
    static final class RefusedAgain implements DeadLetterStore {
        private final String pipeline;
        final Set<String> ids = new HashSet<>();
        final List<String> reasons = new ArrayList<>();

        RefusedAgain(String pipeline) {
            this.pipeline = pipeline;
        }

        @Override
        public String pipeline() {
            return pipeline;
        }

        @Override
        public synchronized int append(List<DeadLetter> letters) {
            for (DeadLetter l : letters) {
                if (ids.add(l.id())) {
                    reasons.add(l.table() + " " + l.key() + ": " + l.reason());
                }
            }
            return letters.size();
        }

        @Override
        public synchronized List<DeadLetter> list() {
            return List.of();
        }
    }
}
