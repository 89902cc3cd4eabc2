package dev.changepipe.sink.clickhouse;

import static org.assertj.core.api.Assertions.assertThat;

import com.clickhouse.client.api.ClientException;
import com.clickhouse.client.api.ServerException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Transient versus permanent, and the code parsed from an 18.16 message. */
class ErrorsTest {

    private static ClickHouseWriteException classify(Throwable e) {
        return Errors.classify("clickhouse", "app_t", "insert", e);
    }

    @Test
    void theCodeIsParsedFromTheMessageOfOldServers() {
        ClickHouseWriteException e = classify(new ServerException(ServerException.CODE_UNKNOWN,
                "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist., e.what() = DB::Exception", 404, "q"));
        assertThat(e.errorCode()).isEqualTo(60);
        assertThat(e.httpStatus()).isEqualTo(404);
        assertThat(e.isRetryable()).isFalse();
        assertThat(e.getMessage()).contains("ClickHouse error 60", "doesn't exist", "app_t");
    }

    @Test
    void permanentErrorsUnknownColumnTypeMismatchSyntaxAreNotRetryableEvenWithHttp500() {
        for (int code : new int[] {16, 47, 53, 62, 27, 6, 38, 115}) {
            ClickHouseWriteException e = classify(new ServerException(code, "Code: " + code + ", DB::Exception: x", 500, "q"));
            assertThat(e.isRetryable()).as("code %d", code).isFalse();
            assertThat(e.errorCode()).isEqualTo(code);
        }
    }

    @Test
    void transientServerCodesTooManyPartsTimeoutMemoryAreRetryable() {
        for (int code : new int[] {252, 159, 241, 202, 209, 210, 242, 319}) {
            assertThat(classify(new ServerException(ServerException.CODE_UNKNOWN,
                    "Code: " + code + ", e.displayText() = DB::Exception: busy", 500, "q")).isRetryable())
                    .as("code %d", code).isTrue();
        }
    }

    @Test
    void http5xxWithoutAClickHouseCodeIsRetryable() {
        assertThat(classify(new ServerException(ServerException.CODE_UNKNOWN, "Bad Gateway", 502, "q")).isRetryable()).isTrue();
        assertThat(classify(new ServerException(ServerException.CODE_UNKNOWN, "", 500, "q")).isRetryable()).isTrue();
        assertThat(classify(new ServerException(ServerException.CODE_UNKNOWN, "denied", 403, "q")).isRetryable()).isFalse();
    }

    @Test
    void noAnswerConnectionRefusedOrTimeoutIsRetryableThroughWrappers() {
        assertThat(classify(new CompletionException(new ClientException("failed",
                new ConnectException("Connection refused")))).isRetryable()).isTrue();
        assertThat(classify(new ClientException("failed", new SocketTimeoutException("Read timed out"))).isRetryable()).isTrue();
        assertThat(classify(new IllegalStateException("bug")).isRetryable()).isFalse();
    }
}
