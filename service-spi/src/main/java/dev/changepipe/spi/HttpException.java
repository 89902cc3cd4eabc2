package dev.changepipe.spi;

/** A request an {@link HttpEndpoint} refuses: answered with {@code status} and a JSON error naming why. */
public final class HttpException extends RuntimeException {

    private final int status;

    public HttpException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The HTTP status: 4xx for a client error, 503 when a target the endpoint needs failed. */
    public int status() {
        return status;
    }
}
