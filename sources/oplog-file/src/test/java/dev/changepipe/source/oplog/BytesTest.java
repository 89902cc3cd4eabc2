package dev.changepipe.source.oplog;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class BytesTest {

    @Test
    void indexOfFindsTheFirstMatchAtEveryAlignmentAndLength() {
        Random random = new Random(42);
        for (int round = 0; round < 20_000; round++) {
            byte[] b = new byte[random.nextInt(40)];
            for (int i = 0; i < b.length; i++) {
                // Few distinct values, high bytes included, so matches and near misses (0x0a ^ 0x80) are common.
                int pick = random.nextInt(6);
                b[i] = (byte) (pick == 0 ? '\n' : pick == 1 ? 0x8a : pick == 2 ? 0x0b : pick == 3 ? 0x09 : pick == 4 ? -1 : 'a');
            }
            int from = b.length == 0 ? 0 : random.nextInt(b.length + 1);
            int to = from + random.nextInt(b.length - from + 1);
            assertThat(Bytes.indexOf(b, from, to, (byte) '\n')).as("round %d", round).isEqualTo(naiveIndexOf(b, from, to));
        }
    }

    @Test
    void isAsciiTellsAnyHighByteAtEveryAlignment() {
        Random random = new Random(7);
        for (int round = 0; round < 20_000; round++) {
            byte[] b = new byte[random.nextInt(40)];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) ('a' + random.nextInt(26));
            }
            if (b.length > 0 && random.nextBoolean()) {
                b[random.nextInt(b.length)] = (byte) (0x80 + random.nextInt(128));
            }
            int start = b.length == 0 ? 0 : random.nextInt(b.length + 1);
            int length = random.nextInt(b.length - start + 1);
            boolean expected = true;
            for (int i = start; i < start + length; i++) {
                expected &= b[i] >= 0;
            }
            assertThat(Bytes.isAscii(b, start, length)).as("round %d", round).isEqualTo(expected);
        }
    }

    @Test
    void plainAsciiEndNeverSkipsAByteThatEndsOrComplicatesAString() {
        Random random = new Random(11);
        byte[] alphabet = {'a', 'Z', ' ', '~', 0x7f, '"', '\\', 0x1f, 0x00, '\n', (byte) 0x80, (byte) 0xc3, (byte) 0xff, 0x21, 0x5b, 0x5d};
        for (int round = 0; round < 20_000; round++) {
            byte[] b = new byte[random.nextInt(40)];
            for (int i = 0; i < b.length; i++) {
                // Mostly plain bytes, so that runs of several words are scanned before a special one.
                b[i] = random.nextInt(8) == 0 ? alphabet[random.nextInt(alphabet.length)] : (byte) ('a' + random.nextInt(26));
            }
            int from = b.length == 0 ? 0 : random.nextInt(b.length + 1);
            int to = from + random.nextInt(b.length - from + 1);
            int end = Bytes.plainAsciiEnd(b, from, to);
            int firstSpecial = to;
            for (int i = from; i < to; i++) {
                if (b[i] == '"' || b[i] == '\\' || (b[i] >= 0 && b[i] < 0x20) || b[i] < 0) {
                    firstSpecial = i;
                    break;
                }
            }
            assertThat(end).as("round %d", round).isBetween(from, firstSpecial);
            assertThat(firstSpecial == to || end == firstSpecial || end > to - Long.BYTES).as("round %d stops at the special byte", round).isTrue();
        }
    }

    private static int naiveIndexOf(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
