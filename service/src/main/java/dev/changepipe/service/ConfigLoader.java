package dev.changepipe.service;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the YAML configuration: parses it, substitutes {@code ${ENV_VAR}} (and
 * {@code ${ENV_VAR:-default}}; {@code $${} is a literal {@code ${}) in every string value, then checks
 * the service's own keys and the references between sections. The keys of a source or sink section
 * are checked by its provider ({@link Components}). Every problem found is reported at once, each
 * with its path.
 */
final class ConfigLoader {

    static final Pattern PIPELINE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");
    private static final ObjectMapper YAML = new ObjectMapper(
            YAMLFactory.builder().enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private final Function<String, String> environment;

    ConfigLoader(Function<String, String> environment) {
        this.environment = environment;
    }

    /** A loader reading the process environment. */
    static ConfigLoader fromEnvironment() {
        return new ConfigLoader(System::getenv);
    }

    ServiceConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException("", "config file " + file + " does not exist");
        } catch (IOException e) {
            throw new ConfigException("", "cannot read config file " + file + ": " + e.getMessage());
        }
        ServiceConfig config = parse(text);
        return config;
    }

    ServiceConfig parse(String yaml) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            ConfigException duplicate = duplicateKey(e);
            if (duplicate != null) {
                throw duplicate;
            }
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr();
            throw new ConfigException("", "not valid YAML" + where + ": " + e.getOriginalMessage());
        }
        List<ConfigException.Problem> problems = new ArrayList<>();
        root = substitute("", root, problems);
        registerSecrets(null, root);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return read(Settings.of("", root), problems);
    }

    /**
     * Tells {@link MaskingConverter} which values are secret, so that logs and error messages print
     * them as {@code ***}: the values of secret keys ({@link MaskingConverter#isSecretKey}) and the
     * passwords of URLs with credentials.
     */
    private static void registerSecrets(String key, JsonNode node) {
        if (node == null) {
            return;
        }
        if (node.isObject()) {
            node.fields().forEachRemaining(f -> registerSecrets(f.getKey(), f.getValue()));
        } else if (node.isArray()) {
            node.forEach(e -> registerSecrets(key, e));
        } else if (node.isValueNode() && !node.isNull()) {
            String value = node.asText();
            if (key != null && MaskingConverter.isSecretKey(key)) {
                MaskingConverter.secret(value);
            }
            MaskingConverter.secretsOfUrl(value);
        }
    }

    /** A duplicate key, as an error naming its path and the line of the second one; else null. */
    private static ConfigException duplicateKey(JsonProcessingException e) {
        if (!(e.getProcessor() instanceof com.fasterxml.jackson.core.JsonParser parser)
                || e.getOriginalMessage() == null || !e.getOriginalMessage().startsWith("Duplicate field")) {
            return null;
        }
        com.fasterxml.jackson.core.JsonStreamContext context = parser.getParsingContext();
        StringBuilder path = new StringBuilder();
        java.util.Deque<String> parts = new java.util.ArrayDeque<>();
        for (var c = context; c != null && !c.inRoot(); c = c.getParent()) {
            if (c.inObject()) {
                parts.push("." + c.getCurrentName());
            } else if (c.inArray()) {
                parts.push("[" + c.getCurrentIndex() + "]");
            }
        }
        parts.forEach(path::append);
        String p = path.length() > 0 && path.charAt(0) == '.' ? path.substring(1) : path.toString();
        String line = e.getLocation() == null ? "" : " (again at line " + e.getLocation().getLineNr() + ")";
        return new ConfigException(p, "key given twice" + line + "; expected each key once in a mapping");
    }

    private ServiceConfig read(Settings root, List<ConfigException.Problem> problems) {
        ServiceConfig.Http http = attempt(problems, () -> http(root.child("http")));
        String level = attempt(problems, () -> logLevel(root.child("logging")));
        Settings checkpoints = attempt(problems, () -> root.child("checkpoints"));
        java.nio.file.Path checkpointDir = checkpoints == null ? null : attempt(problems, () -> {
            java.nio.file.Path p = java.nio.file.Path.of(checkpoints.string("directory",
                    ServiceConfig.DEFAULT_CHECKPOINT_DIRECTORY.toString()));
            checkpoints.checkNoUnknownKeys();
            return p;
        });
        Settings shutdown = attempt(problems, () -> root.child("shutdown"));
        java.time.Duration shutdownTimeout = shutdown == null ? null : attempt(problems, () -> {
            java.time.Duration d = shutdown.duration("timeout", ServiceConfig.DEFAULT_SHUTDOWN_TIMEOUT);
            shutdown.checkNoUnknownKeys();
            return d;
        });
        ServiceConfig.Restart restart = attempt(problems, () -> restart(root.child("restart")));
        Settings health = attempt(problems, () -> root.child("health"));
        java.time.Duration stallTimeout = health == null ? null : attempt(problems, () -> {
            java.time.Duration d = health.duration("stallTimeout", ServiceConfig.DEFAULT_STALL_TIMEOUT);
            health.checkNoUnknownKeys();
            return d;
        });
        Map<String, Map<String, Settings>> connections = attempt(problems, () -> connections(root.child("connections")));
        List<ServiceConfig.PipelineConfig> pipelines = new ArrayList<>();
        List<Settings> list = attempt(problems, () -> root.list("pipelines"));
        if (list != null) {
            if (list.isEmpty()) {
                problems.add(new ConfigException.Problem("pipelines", "required, expected a list of at least one pipeline"));
            }
            Set<String> names = new HashSet<>();
            for (Settings p : list) {
                ServiceConfig.PipelineConfig pc = attempt(problems, () -> pipeline(p));
                if (pc != null) {
                    if (!names.add(pc.name())) {
                        problems.add(new ConfigException.Problem(p.pathOf("name"),
                                "pipeline name '" + pc.name() + "' is used twice; expected unique names"));
                    }
                    pipelines.add(pc);
                }
            }
        }
        attempt(problems, () -> {
            root.checkNoUnknownKeys();
            return null;
        });
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new ServiceConfig(http, level, checkpointDir, shutdownTimeout, restart, connections, pipelines, stallTimeout);
    }

    private static ServiceConfig.Http http(Settings s) {
        boolean enabled = s.bool("enabled", true);
        String host = s.string("host", ServiceConfig.DEFAULT_HOST);
        int port = s.integer("port", ServiceConfig.DEFAULT_PORT, 0, 65535);
        String token = s.optionalString("token").filter(t -> !t.isEmpty()).orElse(null);
        if (token != null && token.length() < 16) {
            throw new ConfigException(s.pathOf("token"), "expected a token of at least 16 characters");
        }
        Path portFile = s.optionalString("portFile").map(Path::of).orElse(null);
        int ioThreads = s.integer("ioThreads", ServiceConfig.DEFAULT_HTTP_IO_THREADS, 1, 64);
        s.checkNoUnknownKeys();
        return new ServiceConfig.Http(enabled, host, port, token, portFile, ioThreads);
    }

    private static String logLevel(Settings s) {
        String level = s.string("level", ServiceConfig.DEFAULT_LOG_LEVEL).toUpperCase(java.util.Locale.ROOT);
        if (!List.of("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF").contains(level)) {
            throw new ConfigException(s.pathOf("level"), "expected one of TRACE, DEBUG, INFO, WARN, ERROR, OFF, got '" + level + "'");
        }
        s.checkNoUnknownKeys();
        return level;
    }

    private static ServiceConfig.Restart restart(Settings s) {
        java.time.Duration min = s.duration("minBackoff", ServiceConfig.DEFAULT_MIN_BACKOFF);
        java.time.Duration max = s.duration("maxBackoff", ServiceConfig.DEFAULT_MAX_BACKOFF);
        if (max.compareTo(min) < 0) {
            throw new ConfigException(s.pathOf("maxBackoff"), "expected at least minBackoff (" + min + "), got " + max);
        }
        int maxPermanent = s.integer("maxPermanentFailures", ServiceConfig.DEFAULT_MAX_PERMANENT_FAILURES, 0, 1_000_000);
        s.checkNoUnknownKeys();
        return new ServiceConfig.Restart(min, max, maxPermanent);
    }

    private static Map<String, Map<String, Settings>> connections(Settings s) {
        Map<String, Map<String, Settings>> out = new LinkedHashMap<>();
        for (String kind : s.keys()) {
            out.put(kind, s.children(kind));
        }
        return out;
    }

    private static ServiceConfig.PipelineConfig pipeline(Settings p) {
        List<ConfigException.Problem> problems = new ArrayList<>();
        String name = p.string("name");
        if (!PIPELINE_NAME.matcher(name).matches()) {
            throw new ConfigException(p.pathOf("name"),
                    "expected 1 to 64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got '" + name + "'");
        }
        Settings source = attempt(problems, () -> {
            if (!p.has("source")) {
                throw new ConfigException(p.pathOf("source"), "required, expected a mapping with a 'type'");
            }
            Settings s = p.child("source");
            s.string("type");
            return s;
        });
        ServiceConfig.Pusher pusher = attempt(problems, () -> pusher(p.child("pusher")));
        List<Settings> sinks = attempt(problems, () -> {
            List<Settings> l = p.list("sinks");
            if (l.isEmpty()) {
                throw new ConfigException(p.pathOf("sinks"), "required, expected a list of at least one sink");
            }
            for (Settings s : l) {
                s.string("type");
            }
            return l;
        });
        java.time.Duration drain = attempt(problems, () -> p.duration("drainTimeout", dev.changepipe.core.Pipeline.DEFAULT_DRAIN_TIMEOUT));
        attempt(problems, () -> {
            p.checkNoUnknownKeys();
            return null;
        });
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new ServiceConfig.PipelineConfig(name, source, pusher, sinks, drain);
    }

    private static ServiceConfig.Pusher pusher(Settings s) {
        ServiceConfig.Pusher.Kind kind = s.choice("kind", ServiceConfig.Pusher.Kind.class, ServiceConfig.Pusher.Kind.PARSE_QUEUE);
        int parallelism = s.integer("parallelism", ParseQueueOptions.DEFAULT_PARALLELISM, 1, 1024);
        long limit = s.bytes("inFlightLimit", ParseQueueOptions.DEFAULT_IN_FLIGHT_LIMIT_BYTES);
        long maxBatch = s.bytes("maxBatch", ParseQueueOptions.DEFAULT_MAX_BATCH_BYTES);
        int maxBatchChunks = s.integer("maxBatchChunks", ParseQueueOptions.DEFAULT_MAX_BATCH_CHUNKS, 1, 1_000_000);
        int writesInFlight = s.integer("writesInFlight", ParseQueueOptions.DEFAULT_MAX_WRITES_IN_FLIGHT, 1, 64);
        long minBatch = s.bytes("minBatch", ParseQueueOptions.DEFAULT_MIN_BATCH_BYTES);
        java.time.Duration linger = s.duration("batchLinger", ParseQueueOptions.DEFAULT_BATCH_LINGER);
        s.checkNoUnknownKeys();
        return new ServiceConfig.Pusher(kind, parallelism, limit, maxBatch, maxBatchChunks, writesInFlight, minBatch,
                linger);
    }

    /** Runs {@code step}, adding its problems to {@code problems} and returning null when it fails. */
    static <T> T attempt(List<ConfigException.Problem> problems, java.util.function.Supplier<T> step) {
        try {
            return step.get();
        } catch (ConfigException e) {
            problems.addAll(e.problems());
            return null;
        }
    }

    private JsonNode substitute(String path, JsonNode node, List<ConfigException.Problem> problems) {
        if (node instanceof ObjectNode object) {
            Iterator<Map.Entry<String, JsonNode>> fields = object.fields();
            List<Map.Entry<String, JsonNode>> replaced = new ArrayList<>();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> f = fields.next();
                String childPath = path.isEmpty() ? f.getKey() : path + "." + f.getKey();
                replaced.add(Map.entry(f.getKey(), substitute(childPath, f.getValue(), problems)));
            }
            for (Map.Entry<String, JsonNode> e : replaced) {
                object.set(e.getKey(), e.getValue());
            }
            return object;
        }
        if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) {
                array.set(i, substitute(path + "[" + i + "]", array.get(i), problems));
            }
            return array;
        }
        if (node != null && node.isTextual()) {
            String text = node.asText();
            if (!text.contains("${")) {
                return node;
            }
            try {
                return TextNode.valueOf(new Substitution(text, path, problems).value());
            } catch (ConfigException e) {
                problems.addAll(e.problems());
                return node;
            }
        }
        return node;
    }

    /**
     * Substitutes one string value: {@code ${NAME}}, {@code ${NAME:-default}} where the default may
     * itself hold {@code ${...}} (nested to any depth), and {@code $${} for a literal {@code ${}. An
     * unterminated {@code ${} or a bad name is an error naming the key, never a stray character.
     */
    private final class Substitution {

        private final String text;
        private final String path;
        /** Where unset variables are reported; a default's own are kept aside until it is used. */
        private List<ConfigException.Problem> problems;
        private int pos;

        Substitution(String text, String path, List<ConfigException.Problem> problems) {
            this.text = text;
            this.path = path;
            this.problems = problems;
        }

        String value() {
            return until(false);
        }

        /** Reads up to the end of the text, or (when {@code nested}) up to the '}' closing a default. */
        private String until(boolean nested) {
            StringBuilder out = new StringBuilder();
            while (pos < text.length()) {
                char c = text.charAt(pos);
                if (c == '$' && text.startsWith("$${", pos)) {
                    out.append("${");
                    pos += 3;
                } else if (c == '$' && text.startsWith("${", pos)) {
                    pos += 2;
                    out.append(variable());
                } else if (c == '}' && nested) {
                    pos++;
                    return out.toString();
                } else {
                    out.append(c);
                    pos++;
                }
            }
            if (nested) {
                throw new ConfigException(path, "unterminated ${...} in '" + text + "'; expected a closing '}'");
            }
            return out.toString();
        }

        private String variable() {
            int start = pos;
            while (pos < text.length() && isNameChar(text.charAt(pos))) {
                pos++;
            }
            String name = text.substring(start, pos);
            if (name.isEmpty() || Character.isDigit(name.charAt(0))) {
                throw new ConfigException(path, "expected an environment variable name (letters, digits, '_') after '${' in '"
                        + text + "' (write $${ for a literal ${)");
            }
            String fallback = null;
            List<ConfigException.Problem> ofFallback = new ArrayList<>();
            if (text.startsWith(":-", pos)) {
                pos += 2;
                List<ConfigException.Problem> outer = problems;
                problems = ofFallback;
                try {
                    fallback = until(true);
                } finally {
                    problems = outer;
                }
            } else if (pos < text.length() && text.charAt(pos) == '}') {
                pos++;
            } else {
                throw new ConfigException(path, pos >= text.length()
                        ? "unterminated ${" + name + " in '" + text + "'; expected a closing '}'"
                        : "unexpected '" + text.charAt(pos) + "' in ${" + name + "...}; expected '}' or ':-default'");
            }
            String value = environment.apply(name);
            if (value != null) {
                return value;
            }
            if (fallback != null) {
                problems.addAll(ofFallback);
                return fallback;
            }
            problems.add(new ConfigException.Problem(path, "environment variable " + name
                    + " is not set; expected it to be set, or a default as ${" + name + ":-value}"));
            return "";
        }

        private static boolean isNameChar(char c) {
            return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_';
        }
    }
}
