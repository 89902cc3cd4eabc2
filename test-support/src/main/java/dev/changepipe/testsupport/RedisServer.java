package dev.changepipe.testsupport;

/**
 * A Redis server for a test: either the private one {@link RedisServerExtension} started for this
 * JVM, or the one named by {@code PIPELINE_TEST_REDIS_URI}. Shared by every test in the JVM: use
 * keys of your own (or a database/prefix of your own) instead of flushing it.
 *
 * @param host the host to connect to, e.g. {@code 127.0.0.1}
 * @param port the port
 */
public record RedisServer(String host, int port) {

  /** The server as a Redis URI, {@code redis://127.0.0.1:PORT}. */
  public String uri() {
    return "redis://" + UriParts.hostForUri(host) + ":" + port;
  }
}
