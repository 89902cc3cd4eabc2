package dev.changepipe.testsupport;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A PostgreSQL server for a test: either the private one {@link PostgresServerExtension} started
 * for this JVM (with {@code wal_level=logical}, trust authentication), or the one named by
 * {@code PIPELINE_TEST_POSTGRES_URI}. Shared by every test in the JVM: isolate a test with
 * {@link #createDatabase(String)}.
 *
 * @param host the host to connect to, e.g. {@code 127.0.0.1}
 * @param port the port
 * @param user a user that may create databases ({@code postgres} on the private server)
 * @param password the user's password, or {@code null} when none is needed
 * @param database an existing database to connect to ({@code postgres} on the private server)
 */
public record PostgresServer(String host, int port, String user, String password,
    String database) {

  private static final Duration PSQL_TIMEOUT = Duration.ofSeconds(60);

  /** {@code r2dbc:postgresql://user[:password]@host:port/database} for {@link #database()}. */
  public String r2dbcUrl() {
    return r2dbcUrl(database);
  }

  /** {@code r2dbc:postgresql://user[:password]@host:port/db} for the given database. */
  public String r2dbcUrl(String db) {
    String credentials = encode(user) + (password == null ? "" : ":" + encode(password));
    return "r2dbc:postgresql://" + credentials + "@" + UriParts.hostForUri(host) + ":" + port
        + "/" + encode(db);
  }

  /**
   * Creates a new, empty database whose name starts with {@code prefix} (reduced to lower-case
   * letters, digits and underscores) and ends with a random suffix, and returns its name.
   * Runs {@code psql}.
   */
  public String createDatabase(String prefix) {
    String name = Commands.uniqueName(prefix);
    execute(database, "CREATE DATABASE \"" + name + "\"");
    return name;
  }

  /**
   * Runs SQL with {@code psql} (stopping at the first error) in the given database and returns
   * its unaligned, tuples-only output; throws {@link IllegalStateException} on failure.
   */
  public String execute(String db, String sql) {
    List<String> command = List.of(PostgresServerExtension.psql().toString(),
        "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
        "-h", host, "-p", Integer.toString(port), "-U", user, "-d", db, "-c", sql);
    Map<String, String> env = new HashMap<>();
    env.put("PGCONNECT_TIMEOUT", "10");
    if (password != null) {
      env.put("PGPASSWORD", password);
    }
    Commands.Result result = Commands.run(command, Path.of(System.getProperty("java.io.tmpdir")),
        env, PSQL_TIMEOUT);
    if (!result.ok()) {
      throw new IllegalStateException("psql failed on " + host + ":" + port + "\n"
          + result.describe());
    }
    return result.output();
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
