package dev.changepipe.testsupport;

/**
 * A private test server could not be started (binary missing, early exit, not ready before the
 * deadline). The message names the command line and ends with the tail of the server's log.
 *
 * <p>JUnit remembers the failure for the rest of the JVM, so every later test class that asks for
 * the same server fails at once with this exception instead of waiting again.
 */
public final class ServerStartupException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final boolean portInUse;

  ServerStartupException(String message, boolean portInUse) {
    super(message);
    this.portInUse = portInUse;
  }

  ServerStartupException(String message, Throwable cause) {
    super(message, cause);
    this.portInUse = false;
  }

  /** Whether the server failed because its port was taken meanwhile (another attempt may work). */
  boolean portInUse() {
    return portInUse;
  }
}
