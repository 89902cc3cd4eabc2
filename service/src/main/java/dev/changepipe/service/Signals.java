package dev.changepipe.service;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT handling. The JVM's default would run shutdown hooks and exit with 143; the
 * service instead drains and checkpoints, then exits 0, so it handles the signals itself.
 */
final class Signals {

    private static final Logger log = LoggerFactory.getLogger(Signals.class);

    private Signals() {
    }

    /** Calls {@code action} (once per signal, on the JVM's signal thread) on SIGTERM and SIGINT. */
    static void onTermination(Runnable action) {
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(name), signal -> {
                    log.info("service: received SIG{}", name);
                    action.run();
                });
            } catch (IllegalArgumentException e) {
                log.warn("service: cannot handle SIG{} here ({}); it will end the JVM without draining", name, e.getMessage());
            }
        }
    }
}
