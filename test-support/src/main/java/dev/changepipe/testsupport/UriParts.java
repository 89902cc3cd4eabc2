package dev.changepipe.testsupport;

import java.net.URI;
import java.net.URISyntaxException;

/** Parsing of the PIPELINE_TEST_*_URI variables. */
final class UriParts {

  private UriParts() {}

  static URI parse(String variable, String value, String... schemes) {
    URI uri;
    try {
      uri = new URI(value.trim());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(variable + " is not a URI: " + value, e);
    }
    boolean schemeOk = false;
    for (String scheme : schemes) {
      schemeOk |= scheme.equalsIgnoreCase(uri.getScheme());
    }
    if (!schemeOk || uri.getHost() == null) {
      throw new IllegalArgumentException(variable + " must look like " + schemes[0]
          + "://host:port..., got: " + value);
    }
    return uri;
  }

  static int port(URI uri, int defaultPort) {
    return uri.getPort() < 0 ? defaultPort : uri.getPort();
  }

  /** URI's host, without the brackets of an IPv6 literal. */
  static String host(URI uri) {
    String host = uri.getHost();
    return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
  }

  /** A host as written in a URI: an IPv6 literal in brackets. */
  static String hostForUri(String host) {
    return host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
  }
}
