package dev.changepipe.service;

import picocli.CommandLine;

/**
 * The entry point of the {@code ./pipeline} launcher: {@code run}, {@code validate}, {@code demo},
 * {@code status}, {@code offsets} (see {@code ./pipeline --help} and docs/service.md).
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns its exit code (for tests). */
    static int execute(String... args) {
        return Cli.commandLine().execute(args);
    }
}
