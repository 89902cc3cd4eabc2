package dev.changepipe.testsupport;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One server per JVM, kept in the root {@link ExtensionContext.Store}: JUnit closes it when the
 * whole test plan ends; a JVM shutdown hook stops it if that never happens (e.g. System.exit).
 * Implements both the deprecated {@code CloseableResource} (JUnit before 5.13) and
 * {@link AutoCloseable} (5.13 and later); JUnit closes it once either way, and close is idempotent.
 */
@SuppressWarnings("deprecation")
final class SharedServer<T> implements ExtensionContext.Store.CloseableResource, AutoCloseable {

  private final T server;
  private final Runnable stopper;
  private final Thread shutdownHook;
  private final AtomicBoolean closed = new AtomicBoolean();

  private SharedServer(T server, Runnable stopper, String name) {
    this.server = server;
    this.stopper = stopper;
    if (stopper == null) {
      this.shutdownHook = null;
    } else {
      this.shutdownHook = new Thread(this::stopOnce, "stop-test-" + name);
      Runtime.getRuntime().addShutdownHook(shutdownHook);
    }
  }

  /** A server this JVM started and must stop. */
  static <T> SharedServer<T> owned(T server, Runnable stopper, String name) {
    return new SharedServer<>(server, stopper, name);
  }

  /** A server named by an environment variable: used as is, never stopped. */
  static <T> SharedServer<T> external(T server) {
    return new SharedServer<>(server, null, "external");
  }

  /** The server of this kind for the whole JVM, started on first use. */
  @SuppressWarnings("unchecked")
  static <T> T get(ExtensionContext context, Class<?> extension, Supplier<SharedServer<T>> start) {
    ExtensionContext.Store store =
        context.getRoot().getStore(ExtensionContext.Namespace.create(extension));
    return ((SharedServer<T>) store.getOrComputeIfAbsent(
        SharedServer.class, k -> start.get(), SharedServer.class)).server;
  }

  @Override
  public void close() {
    if (shutdownHook != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running or about to; stopOnce makes that harmless
      }
    }
    stopOnce();
  }

  private void stopOnce() {
    if (stopper != null && closed.compareAndSet(false, true)) {
      stopper.run();
    }
  }
}
