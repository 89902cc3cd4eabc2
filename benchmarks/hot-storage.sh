#!/usr/bin/env bash
# Runs HotStorageBenchmark next to redis-benchmark, both against one private Redis started here
# (free loopback port, no persistence, temporary directory), so that the figures compare.
#   benchmarks/hot-storage.sh [extra JMH options]
# Another JMH run on the machine holds /tmp/jmh.lock: JMH_JAVA_OPTS=-Djmh.ignoreLock=true runs anyway.
# Needs redis-server, redis-benchmark and redis-cli on the PATH, and the shaded jar:
#   ./mvnw -B -ntp -pl benchmarks -am package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."
jar=benchmarks/target/benchmarks.jar
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$dir" \
    >"$dir/redis.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== redis-benchmark, 50 clients, pipeline 16"
redis-benchmark -p "$port" -t set,get -n 200000 -q -P 16
echo "== redis-benchmark, 50 clients, no pipeline"
redis-benchmark -p "$port" -t set,get -n 200000 -q
echo "== redis-benchmark, 1 client, no pipeline"
redis-benchmark -p "$port" -t set,get -n 50000 -q -c 1
echo "== HotStorageBenchmark"
java ${JMH_JAVA_OPTS:-} -jar "$jar" HotStorageBenchmark -f 1 -wi 2 -i 3 -p redisUri="redis://127.0.0.1:$port" "$@"
