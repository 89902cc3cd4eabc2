package dev.changepipe.testsupport;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A ClickHouse server for a test, reached over HTTP as user {@code default} without a password:
 * either the private one {@link ClickHouseServerExtension} started for this JVM, or the one named
 * by {@code PIPELINE_TEST_CLICKHOUSE_URI}. Shared by every test in the JVM: isolate a test with
 * {@link #createDatabase(String)}.
 *
 * @param host the host to connect to, e.g. {@code 127.0.0.1}
 * @param httpPort the HTTP interface's port
 */
public record ClickHouseServer(String host, int httpPort) {

  private static final Duration TIMEOUT = Duration.ofSeconds(60);

  /** The HTTP endpoint, {@code http://127.0.0.1:PORT}. */
  public String httpUrl() {
    return "http://" + UriParts.hostForUri(host) + ":" + httpPort;
  }

  /**
   * Creates a new, empty database whose name starts with {@code prefix} (reduced to lower-case
   * letters, digits and underscores) and ends with a random suffix, and returns its name.
   */
  public String createDatabase(String prefix) {
    String name = Commands.uniqueName(prefix);
    execute("CREATE DATABASE " + name);
    return name;
  }

  /**
   * POSTs one SQL statement to the HTTP interface and returns the response body; throws
   * {@link IllegalStateException} if the server answers with an error. Name the database in the
   * SQL; add a {@code FORMAT} clause to choose the output format.
   */
  public String execute(String sql) {
    HttpRequest request = HttpRequest.newBuilder(URI.create(httpUrl() + "/"))
        .timeout(TIMEOUT)
        .POST(HttpRequest.BodyPublishers.ofString(sql, StandardCharsets.UTF_8))
        .build();
    HttpResponse<String> response;
    try {
      response = Http.CLIENT.send(request,
          HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalStateException("ClickHouse at " + httpUrl() + " unreachable for: " + sql, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while sending to ClickHouse: " + sql, e);
    }
    if (response.statusCode() != 200) {
      throw new IllegalStateException("ClickHouse at " + httpUrl() + " answered "
          + response.statusCode() + " to: " + sql + "\n" + response.body());
    }
    return response.body();
  }

  /** One HTTP client for all servers: it holds a thread pool and connections. */
  static final class Http {
    static final HttpClient CLIENT = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5))
        .build();

    private Http() {}
  }
}
