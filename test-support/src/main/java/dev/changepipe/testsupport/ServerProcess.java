package dev.changepipe.testsupport;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/** A long-running server process started by this JVM, with its output in a log file. */
final class ServerProcess {

  private static final Duration POLL = Duration.ofMillis(20);
  private static final Duration GRACE = Duration.ofSeconds(5);

  private final String name;
  private final List<String> command;
  private final Process process;
  private final List<Path> logs;

  private ServerProcess(String name, List<String> command, Process process, List<Path> logs) {
    this.name = name;
    this.command = command;
    this.process = process;
    this.logs = logs;
  }

  /**
   * Starts {@code command} in {@code workDir}, stdout and stderr appended to {@code output}.
   * {@code logs} are the files whose tails explain a failure (the output file comes first).
   */
  static ServerProcess start(String name, List<String> command, Path workDir, Path output,
      Map<String, String> env, List<Path> logs) {
    List<Path> allLogs = new ArrayList<>();
    allLogs.add(output);
    allLogs.addAll(logs);
    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(workDir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(output.toFile()));
    builder.environment().putAll(env);
    try {
      Process process = builder.start();
      closeQuietly(process);
      return new ServerProcess(name, List.copyOf(command), process, List.copyOf(allLogs));
    } catch (IOException e) {
      throw new ServerStartupException("cannot start " + name + ": "
          + Commands.describe(command) + ": " + e.getMessage(), e);
    }
  }

  private static void closeQuietly(Process process) {
    try {
      process.getOutputStream().close(); // the server reads nothing from stdin
    } catch (IOException ignored) {
      // harmless
    }
  }

  /**
   * Polls {@code ready} until it answers true; fails when the process exits first or the deadline
   * passes. A failure mentioning a taken port is marked so that the caller may try another one.
   * The caller stops the process after a failure.
   */
  void awaitReady(Duration timeout, BooleanSupplier ready) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (ready.getAsBoolean()) {
        return;
      }
      if (!process.isAlive()) {
        throw failure(name + " exited with code " + process.exitValue() + " before it was ready");
      }
      if (System.nanoTime() - deadline > 0) {
        throw failure(name + " was not ready after " + timeout.toSeconds() + " s");
      }
      LockSupport.parkNanos(POLL.toNanos());
    }
  }

  ServerStartupException failure(String what) {
    String tails = Commands.tails(logs);
    return new ServerStartupException(what + "\ncommand: " + Commands.describe(command) + tails,
        Commands.mentionsPortInUse(tails));
  }

  /** Stops the process and its descendants: SIGTERM, then SIGKILL after a few seconds. */
  void stop() {
    destroyTree(process.toHandle());
  }

  /** Kills the process and its descendants at once (SIGKILL: a crash) and waits for them to exit. */
  void kill() {
    List<ProcessHandle> all = tree(process.toHandle());
    all.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle handle : all) {
      try {
        handle.onExit().get(GRACE.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception ignored) {
        // nothing more we can do
      }
    }
  }

  /** The process and its descendants as of now. */
  List<ProcessHandle> handleAndDescendants() {
    return tree(process.toHandle());
  }

  private static List<ProcessHandle> tree(ProcessHandle root) {
    List<ProcessHandle> all = new ArrayList<>();
    all.add(root);
    root.descendants().forEach(all::add);
    return all;
  }

  static void destroyTree(ProcessHandle root) {
    List<ProcessHandle> all = tree(root);
    all.forEach(ProcessHandle::destroy);
    long deadline = System.nanoTime() + GRACE.toNanos();
    for (ProcessHandle handle : all) {
      long left = deadline - System.nanoTime();
      try {
        handle.onExit().get(Math.max(left, 0), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception notYet) {
        // killed below
      }
    }
    for (ProcessHandle handle : all) {
      if (handle.isAlive()) {
        handle.destroyForcibly();
        try {
          handle.onExit().get(GRACE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } catch (Exception ignored) {
          // nothing more we can do
        }
      }
    }
  }
}
