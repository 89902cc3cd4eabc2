package dev.changepipe.source.storage;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.reactive.RedisClusterReactiveCommands;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import reactor.core.publisher.Flux;

/**
 * A Lua script run with {@code EVALSHA}; when the server does not know it (first use, a restart, a
 * {@code SCRIPT FLUSH}, another cluster node) it is sent once with {@code EVAL}, which also loads it.
 */
final class RedisScript {

    private final String source;
    private final String sha;
    private final ScriptOutputType type;

    RedisScript(String source, ScriptOutputType type) {
        this.source = source;
        this.type = type;
        try {
            this.sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1")
                    .digest(source.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is not available", e);
        }
    }

    <T> Flux<T> run(RedisClusterReactiveCommands<String, String> commands, String[] keys, String... args) {
        return commands.<T>evalsha(sha, type, keys, args)
                .onErrorResume(RedisNoScriptException.class, e -> commands.<T>eval(source, type, keys, args));
    }

    String sha() {
        return sha;
    }
}
