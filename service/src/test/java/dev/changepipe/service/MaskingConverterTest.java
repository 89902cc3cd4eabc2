package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class MaskingConverterTest {

    @Test
    void registeredSecretsAreMaskedWhereverTheyAppear() {
        MaskingConverter.secret("hunter2-secret");
        MaskingConverter.secretsOfUrl("redis://app:s3cret%40x@cache:6379/0");
        assertThat(MaskingConverter.mask("connecting with hunter2-secret, user=bob")).isEqualTo("connecting with ***, user=bob");
        assertThat(MaskingConverter.mask("url redis://app:s3cret%40x@cache:6379/0")).isEqualTo("url redis://app:***@cache:6379/0");
        assertThat(MaskingConverter.mask("decoded s3cret@x")).isEqualTo("decoded ***");
    }

    @Test
    void textThatOnlyLooksLikeASecretIsLeftAlone() {
        assertThat(MaskingConverter.mask("password: environment variable X is not set"))
                .isEqualTo("password: environment variable X is not set");
        assertThat(MaskingConverter.mask("token=abc, the tokenizer")).isEqualTo("token=abc, the tokenizer");
    }

    @Test
    void theConfigRegistersTheValuesOfSecretKeysAndUrlPasswords() {
        new ConfigLoader(Map.of("TOKEN", "0123456789abcdef-from-env")::get).parse("""
                http:
                  token: ${TOKEN}
                connections:
                  postgres:
                    main:
                      url: r2dbc:postgresql://app:pg-pass-1@db:5432/app
                pipelines:
                  - name: p
                    source: {type: oplog-file, path: x.log}
                    sinks: [{type: postgres, connection: main}]
                """);
        assertThat(MaskingConverter.mask("Authorization: Bearer 0123456789abcdef-from-env"))
                .isEqualTo("Authorization: Bearer ***");
        assertThat(MaskingConverter.mask("connect to r2dbc:postgresql://app:pg-pass-1@db")).doesNotContain("pg-pass-1");
    }

    @Test
    void shortValuesAreNotRegistered() {
        MaskingConverter.secret("ab");
        assertThat(MaskingConverter.mask("a table")).isEqualTo("a table");
    }

    @Test
    void everyEventIsOneLine() {
        assertThat(MaskingConverter.mask("first\nsecond\r\nthird")).isEqualTo("first second third");
    }
}
