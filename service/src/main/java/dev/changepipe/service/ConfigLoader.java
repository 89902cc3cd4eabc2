package dev.changepipe.service;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.changepipe.spi.ConfigException;
import dev.changepipe.spi.Settings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
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
    static final Pattern INSTANCE_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}");
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
        List<ConfigException.Problem> problems = new ArrayList<>();
        return orThrow(load(file, problems), problems);
    }

    /**
     * Reads as much of {@code file} as it can, adding every problem to {@code problems}: the config as
     * far as it could be read (a key in error takes its default), or null when it is not a YAML mapping.
     */
    ServiceConfig load(Path file, List<ConfigException.Problem> problems) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            problems.add(new ConfigException.Problem("", "config file " + file + " does not exist"));
            return null;
        } catch (IOException e) {
            problems.add(new ConfigException.Problem("", "cannot read config file " + file + ": " + e.getMessage()));
            return null;
        }
        return parse(text, problems);
    }

    ServiceConfig parse(String yaml) {
        List<ConfigException.Problem> problems = new ArrayList<>();
        return orThrow(parse(yaml, problems), problems);
    }

    private static ServiceConfig orThrow(ServiceConfig config, List<ConfigException.Problem> problems) {
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return config;
    }

    /** {@link #parse(String)}, adding every problem to {@code problems} instead of throwing. */
    ServiceConfig parse(String yaml, List<ConfigException.Problem> problems) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            ConfigException duplicate = duplicateKey(e);
            if (duplicate != null) {
                problems.addAll(duplicate.problems());
                return null;
            }
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr();
            problems.add(new ConfigException.Problem("", "not valid YAML" + where + ": " + e.getOriginalMessage()));
            return null;
        }
        root = substitute("", root, problems);
        registerSecrets(null, root);
        return read(root, problems);
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

    /**
     * Binds the file ({@link ServiceConfig.File}) and checks what the binding cannot: the token's
     * length, the backoffs' order, the pipelines' names, that each section is a mapping with a type.
     */
    private static ServiceConfig read(JsonNode root, List<ConfigException.Problem> problems) {
        Settings top = attempt(problems, () -> Settings.of("", root));
        ServiceConfig.File file = top == null ? null : top.bind(ServiceConfig.File.class, problems);
        if (file == null) {
            return null;
        }
        ServiceConfig.Http http = file.http();
        if (http.token() != null && http.token().length() < 16) {
            problems.add(new ConfigException.Problem("http.token", "expected a token of at least 16 characters"));
        }
        ServiceConfig.Restart restart = file.restart();
        if (restart.maxBackoff().compareTo(restart.minBackoff()) < 0) {
            problems.add(new ConfigException.Problem("restart.maxBackoff",
                    "expected at least minBackoff (" + restart.minBackoff() + "), got " + restart.maxBackoff()));
        }
        Map<String, Map<String, Settings>> connections = new LinkedHashMap<>();
        file.connections().forEach((kind, named) -> {
            Map<String, Settings> ofKind = new LinkedHashMap<>();
            if (named != null) {
                named.forEach((name, node) -> {
                    Settings c = attempt(problems, () -> Settings.of("connections." + kind + "." + name, node));
                    if (c != null) {
                        ofKind.put(name, c);
                    }
                });
            }
            connections.put(kind, ofKind);
        });
        List<ServiceConfig.PipelineConfig> pipelines = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < file.pipelines().size(); i++) {
            ServiceConfig.PipelineFile p = file.pipelines().get(i);
            String at = "pipelines[" + i + "]";
            if (p == null || p.name() == null) {
                continue; // reported by the binding
            }
            if (!PIPELINE_NAME.matcher(p.name()).matches()) {
                problems.add(new ConfigException.Problem(at + ".name", "expected 1 to 64 letters, digits, '.', '_' or '-'"
                        + " (starting with a letter or digit), got '" + p.name() + "'"));
                continue;
            }
            if (!names.add(p.name())) {
                problems.add(new ConfigException.Problem(at + ".name",
                        "pipeline name '" + p.name() + "' is used twice; expected unique names"));
            }
            Settings source = p.source() == null ? null : section(at + ".source", p.source(), problems);
            List<Settings> sinks = new ArrayList<>();
            for (int j = 0; j < p.sinks().size(); j++) {
                Settings sink = section(at + ".sinks[" + j + "]", p.sinks().get(j), problems);
                if (sink != null) {
                    sinks.add(sink);
                }
            }
            if (source != null && sinks.size() == p.sinks().size() && !sinks.isEmpty()) {
                pipelines.add(new ServiceConfig.PipelineConfig(p.name(), source, p.pusher(), sinks, p.drainTimeout()));
            }
        }
        ServiceConfig.Instances instances = instances(file.instances(), connections, problems);
        return new ServiceConfig(http, file.logging().level().name(), file.checkpoints().directory(),
                file.shutdown().timeout(), restart, connections, pipelines, file.health().stallTimeout(), instances);
    }

    /** The {@code instances} section with its id filled in, after checking its connection, id and lease time. */
    private static ServiceConfig.Instances instances(ServiceConfig.Instances in, Map<String, Map<String, Settings>> connections,
            List<ConfigException.Problem> problems) {
        if (in == null || in.redis() == null) {
            return null; // a missing redis is reported by the binding
        }
        Map<String, Settings> redis = connections.getOrDefault("redis", Map.of());
        if (!redis.containsKey(in.redis())) {
            problems.add(new ConfigException.Problem("instances.redis", "unknown redis connection '" + in.redis()
                    + "'; expected one of: " + (redis.isEmpty() ? "(none under connections.redis)" : String.join(", ", redis.keySet()))));
        }
        String id = in.id() == null ? Instances.defaultId() : in.id();
        if (!INSTANCE_ID.matcher(id).matches()) {
            problems.add(new ConfigException.Problem("instances.id", "expected 1 to 64 letters, digits, '.', '_', '-' or ':',"
                    + " got '" + id + "'"));
        }
        if (in.leaseTime().compareTo(Duration.ofMillis(300)) < 0) {
            problems.add(new ConfigException.Problem("instances.leaseTime", "expected at least 300ms, got " + in.leaseTime()));
        }
        return new ServiceConfig.Instances(in.redis(), id, in.leaseTime(), in.writeLog());
    }

    /** A source or sink section: a mapping with a {@code type}; null (and a problem) otherwise. */
    private static Settings section(String path, JsonNode node, List<ConfigException.Problem> problems) {
        return attempt(problems, () -> {
            Settings s = Settings.of(path, node);
            s.string("type");
            return s;
        });
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
