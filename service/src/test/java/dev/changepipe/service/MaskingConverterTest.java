package dev.changepipe.service;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class MaskingConverterTest {

    @Test
    void secretsAreMaskedInLogLines() {
        assertThat(MaskingConverter.mask("connecting with password=hunter2, user=bob"))
                .isEqualTo("connecting with password=***, user=bob");
        assertThat(MaskingConverter.mask("{\"token\": \"abcdef0123456789\"}")).isEqualTo("{\"token\": \"***\"}");
        assertThat(MaskingConverter.mask("Authorization: Bearer abc.def-ghi")).doesNotContain("abc.def-ghi");
        assertThat(MaskingConverter.mask("url redis://app:s3cret@cache:6379/0")).isEqualTo("url redis://app:***@cache:6379/0");
        assertThat(MaskingConverter.mask("Secret: x1")).isEqualTo("Secret: ***");
    }

    @Test
    void everyEventIsOneLine() {
        assertThat(MaskingConverter.mask("first\nsecond\r\nthird")).isEqualTo("first second third");
    }
}
