package dev.changepipe.service;

import org.slf4j.LoggerFactory;

/**
 * The entry point of the {@code ./pipeline} launcher: {@code run}, {@code validate}, {@code demo},
 * {@code status}, {@code offsets}, {@code dead-letters}, and the commands providers add, such as
 * {@code handover} (see {@code ./pipeline --help} and docs/service.md).
 *
 * <p>An {@link Error} (out of memory, a stack overflow, a class that does not link) anywhere ends the
 * process with exit code {@value #FATAL} and one log line: the state of a JVM after an {@code Error} is
 * unknown, and a live process that reports ready while nothing moves is worse than a restart by the
 * process supervisor. The launcher also runs the JVM with {@code -XX:+ExitOnOutOfMemoryError}, which
 * covers an out-of-memory error that no code gets to see.
 */
public final class Main {

    /** The exit code after an {@link Error}. */
    static final int FATAL = 3;

    private Main() {
    }

    public static void main(String[] args) {
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> {
            if (e instanceof Error error) {
                fatal(error, thread.getName());
            }
            LoggerFactory.getLogger(Main.class).error("uncaught exception on thread {}", thread.getName(), e);
        });
        PipelineSupervisor.fatalErrorsEndTheProcess = true;
        // An error that reaches a cancelled run (an acknowledgement refused after the lease moved to
        // another instance, a write failing after a stop) has no one left to handle it: one line, not
        // Reactor's ERROR with a stack trace.
        reactor.core.publisher.Hooks.onErrorDropped(e -> LoggerFactory.getLogger(Main.class)
                .warn("after its run was cancelled: {}", e.toString()));
        System.exit(execute(args));
    }

    /** Ends the process at once after an {@link Error}; never returns. */
    static void fatal(Error error, String where) {
        try {
            System.err.println(System.getProperty("changepipe.command", "pipeline") + ": fatal " + error + " in " + where
                    + "; exiting with code " + FATAL);
            LoggerFactory.getLogger(Main.class).error("fatal {} in {}; exiting with code {}", error, where, FATAL);
        } finally {
            Runtime.getRuntime().halt(FATAL);
        }
    }

    /** The first {@link Error} in a cause chain, or {@code null}. */
    static Error fatalCause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof Error error) {
                return error;
            }
        }
        return null;
    }

    /** Runs the command line and returns its exit code (for tests). */
    static int execute(String... args) {
        return Cli.commandLine().execute(args);
    }
}
