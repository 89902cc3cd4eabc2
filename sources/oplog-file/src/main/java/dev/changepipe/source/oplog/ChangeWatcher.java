package dev.changepipe.source.oplog;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;

/**
 * Tells a following reader when to look again: on a watch-service event in the watched directory, or
 * after the poll interval, whichever comes first (watch events are lost on some file systems, and an
 * event between a reader's check and its wait is only caught by the poll). One daemon thread per
 * watcher takes the events; {@link #close()} ends it.
 */
final class ChangeWatcher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ChangeWatcher.class);

    private final AtomicLong changes = new AtomicLong();
    private final Sinks.Many<Long> events = Sinks.many().multicast().directBestEffort();
    private final Duration pollInterval;
    private final Scheduler timer;
    private final WatchService service;

    ChangeWatcher(Path directory, boolean useWatchService, Duration pollInterval, Scheduler timer, String name) {
        this.pollInterval = pollInterval;
        this.timer = timer;
        this.service = useWatchService ? open(directory, name) : null;
    }

    private WatchService open(Path directory, String name) {
        if (!Files.isDirectory(directory)) {
            log.info("source {}: {} is not a directory yet; polling every {}", name, directory, pollInterval);
            return null;
        }
        try {
            WatchService ws = FileSystems.getDefault().newWatchService();
            directory.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
            Thread thread = new Thread(() -> run(ws), "oplog-watch-" + name);
            thread.setDaemon(true);
            thread.start();
            return ws;
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("source {}: no watch service for {} ({}); polling every {}", name, directory, e.toString(), pollInterval);
            return null;
        }
    }

    private void run(WatchService ws) {
        try {
            while (true) {
                WatchKey key = ws.take();
                key.pollEvents();
                long v = changes.incrementAndGet();
                events.tryEmitNext(v);
                if (!key.reset()) {
                    return;
                }
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // closed: the run ended
        }
    }

    /** A number that changes whenever a change was seen; read before looking at the file. */
    long version() {
        return changes.get();
    }

    /**
     * Completes once a change was seen after {@code seen} was read from {@link #version()}, or the poll
     * interval passed. Cancelling it stops the wait.
     */
    Mono<Void> changeAfter(long seen) {
        return Mono.defer(() -> {
            if (changes.get() != seen) {
                return Mono.empty();
            }
            Mono<Void> poll = Mono.delay(pollInterval, timer).then();
            if (service == null) {
                return poll;
            }
            return Mono.firstWithSignal(events.asFlux().filter(v -> v != seen).next().then(), poll);
        });
    }

    @Override
    public void close() {
        if (service != null) {
            try {
                service.close();
            } catch (IOException e) {
                log.debug("closing watch service: {}", e.toString());
            }
        }
    }
}
