package dev.changepipe.sink.redis;

/**
 * The Lua scripts that apply one object's change atomically. Each first compares the change's
 * version with the stored one (the object's, or its tombstone's) and returns {@code 0}, having
 * changed nothing, when the change is not newer: a stale change or a replay. Versions are compared
 * as decimal digit strings (no leading zeros, at most 19 digits), split in halves that Lua's double
 * numbers hold exactly.
 *
 * <p>The index keys an object should have are computed by the caller and passed as keys; the script
 * removes the ones it had and no longer has (only where they still point at it), takes the new ones
 * (removing a taken key from the previous holder's index set), and records them in its index set.
 */
final class Scripts {

    private Scripts() {
    }

    private static final String COMPARE = """
            local function cmp(a, b)
              if #a ~= #b then
                if #a < #b then return -1 else return 1 end
              end
              if a == b then return 0 end
              local split = #a - 9
              if split > 0 then
                local ah, bh = tonumber(string.sub(a, 1, split)), tonumber(string.sub(b, 1, split))
                if ah ~= bh then
                  if ah < bh then return -1 else return 1 end
                end
                if tonumber(string.sub(a, split + 1)) < tonumber(string.sub(b, split + 1)) then return -1 else return 1 end
              end
              if tonumber(a) < tonumber(b) then return -1 else return 1 end
            end
            local function stored_version(obj_key, tomb_key)
              local cur = redis.call('GET', obj_key)
              if cur then
                local v = string.match(cur, '^{"version":(%d+),')
                if not v then
                  return nil, 'HOTSTORAGE ' .. obj_key .. ' does not hold a versioned object'
                end
                return v, nil
              end
              local t = redis.call('GET', tomb_key)
              if t then return t, nil, true end
              return nil, nil
            end
            """;

    /**
     * Saves an object. KEYS: object, index set, all set, tombstone, then every index key the object
     * should have. ARGV: version, escaped pk, object JSON, the model's object key prefix.
     * Returns 1 when applied, 0 when the stored version is the same or newer.
     */
    static final String SAVE = COMPARE + """
            local version, pk, json, pk_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
            local stored, err, tombstone = stored_version(KEYS[1], KEYS[4])
            if err then return redis.error_reply(err) end
            if stored and cmp(version, stored) <= 0 then return 0 end
            if tombstone then redis.call('DEL', KEYS[4]) end
            local wanted = {}
            for i = 5, #KEYS do wanted[KEYS[i]] = true end
            for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
              if not wanted[k] then
                if redis.call('GET', k) == pk then redis.call('DEL', k) end
                redis.call('SREM', KEYS[2], k)
              end
            end
            for i = 5, #KEYS do
              local k = KEYS[i]
              local holder = redis.call('GET', k)
              if holder ~= pk then
                if holder then redis.call('SREM', pk_prefix .. holder .. ':indexes', k) end
                redis.call('SET', k, pk)
              end
              redis.call('SADD', KEYS[2], k)
            end
            redis.call('SET', KEYS[1], json)
            redis.call('SADD', KEYS[3], pk)
            return 1
            """;

    /**
     * Deletes an object. KEYS: object, index set, all set, tombstone. ARGV: version, escaped pk,
     * tombstone time to live in milliseconds (0: none). Returns 1 when applied, 0 when the stored
     * version is the same or newer.
     */
    static final String DELETE = COMPARE + """
            local version, pk, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
            local stored, err, tombstone = stored_version(KEYS[1], KEYS[4])
            if err then return redis.error_reply(err) end
            if stored and cmp(version, stored) <= 0 then return 0 end
            for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
              if redis.call('GET', k) == pk then redis.call('DEL', k) end
            end
            redis.call('DEL', KEYS[1], KEYS[2])
            redis.call('SREM', KEYS[3], pk)
            if ttl > 0 then
              redis.call('SET', KEYS[4], version, 'PX', ttl)
            elseif tombstone then
              redis.call('DEL', KEYS[4])
            end
            return 1
            """;
}
