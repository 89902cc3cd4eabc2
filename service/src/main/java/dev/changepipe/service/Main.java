package dev.changepipe.service;

import dev.changepipe.core.ChangeItem;
import dev.changepipe.core.Chunk;
import dev.changepipe.core.Offset;
import dev.changepipe.core.Sink;
import dev.changepipe.pusher.ParseQueueOptions;
import dev.changepipe.pusher.ParseQueuePusher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The entry point of the {@code ./pipeline} launcher. The replication service (config, HTTP admin,
 * the ClickHouse demo) is not built yet; until it is, {@code demo} shows the pusher at work on
 * generated changes with a counting sink.
 */
public final class Main {

    private static final int CHANGES = 1_000_000;
    private static final int LINES_PER_CHUNK = 10_000;

    private Main() {
    }

    public static void main(String[] args) {
        PrintStream out = System.out;
        String command = args.length == 0 ? "help" : args[0];
        switch (command) {
            case "demo" -> demo(out);
            case "help", "--help", "-h" -> help(out);
            default -> {
                System.err.println("pipeline: unknown command '" + command + "'");
                help(System.err);
                System.exit(2);
            }
        }
    }

    private static void help(PrintStream out) {
        out.println("usage: ./pipeline demo");
        out.println("  demo   the replication service is not built yet; shows the pusher on generated changes");
    }

    private static void demo(PrintStream out) {
        out.println("The replication service (YAML config, HTTP admin, the ClickHouse demo) is not built yet.");
        out.println("Meanwhile: " + String.format("%,d", CHANGES) + " generated changes (inserts, updates, deletes)"
                + " parsed in parallel by the parse-queue pusher into a counting sink.");
        List<Chunk> chunks = new ArrayList<>();
        for (int start = 0; start < CHANGES; start += LINES_PER_CHUNK) {
            byte[] block = lines(start, Math.min(CHANGES, start + LINES_PER_CHUNK));
            long offset = start + LINES_PER_CHUNK;
            chunks.add(Chunk.raw("generated.log", Offset.of(offset), block.length, () -> parse(block, offset),
                    offset >= CHANGES));
        }
        AtomicLong rows = new AtomicLong();
        AtomicLong deletes = new AtomicLong();
        Sink counter = new Sink() {
            @Override
            public String name() {
                return "counter";
            }

            @Override
            public Mono<Void> write(Chunk chunk) {
                return Mono.fromRunnable(() -> {
                    rows.addAndGet(chunk.items().size());
                    deletes.addAndGet(chunk.items().stream().filter(i -> !i.kind().isSave()).count());
                });
            }
        };
        int parallelism = Math.max(1, Runtime.getRuntime().availableProcessors());
        ParseQueuePusher pusher = ParseQueuePusher.create("demo", List.of(counter), ack -> { },
                ParseQueueOptions.builder().parallelism(parallelism).inFlightLimitBytes(16L << 20).build(),
                new SimpleMeterRegistry());
        long started = System.nanoTime();
        var done = Flux.fromIterable(chunks)
                .concatMap(pusher::push)
                .then(Mono.defer(() -> pusher.close(Duration.ofMinutes(1))))
                .toFuture();
        while (!done.isDone()) {
            progress(out, rows.get(), started);
            try {
                done.get(200, TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // Progress is redrawn until done; an error surfaces through join() below.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        done.join();
        progress(out, rows.get(), started);
        out.println();
        double seconds = (System.nanoTime() - started) / 1e9;
        out.printf("%,d changes (%,d deletes) in %.2f s: %,.0f changes/s with %d parse threads%n",
                rows.get(), deletes.get(), seconds, rows.get() / seconds, parallelism);
    }

    private static void progress(PrintStream out, long done, long started) {
        int width = 40;
        int filled = (int) (width * done / CHANGES);
        double seconds = Math.max(1e-9, (System.nanoTime() - started) / 1e9);
        out.printf("\r[%s%s] %,d / %,d  %,.0f rows/s", "#".repeat(filled), " ".repeat(width - filled), done, CHANGES,
                done / seconds);
        out.flush();
    }

    private static byte[] lines(int from, int to) {
        StringBuilder b = new StringBuilder();
        for (int i = from; i < to; i++) {
            int id = i % 100_000;
            String op = i % 10 == 9 ? "delete" : i < 100_000 ? "insert" : "update";
            b.append(id).append(',').append(op).append(',').append("value-").append(i).append('\n');
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static List<ChangeItem> parse(byte[] block, long chunkOffset) {
        String text = new String(block, StandardCharsets.UTF_8);
        List<ChangeItem> items = new ArrayList<>();
        long version = chunkOffset * 100;
        for (String line : text.split("\n")) {
            String[] f = line.split(",", 3);
            Map<String, Object> key = Map.of("id", Long.parseLong(f[0]));
            ChangeItem.Kind kind = ChangeItem.Kind.valueOf(f[1].toUpperCase());
            items.add(ChangeItem.of(kind, "demo.item", key,
                    kind.isSave() ? Map.of("id", key.get("id"), "value", f[2]) : Map.of(), version++));
        }
        return items;
    }
}
