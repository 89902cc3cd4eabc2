package dev.changepipe.source.cdc;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The pgoutput protocol version 1 messages, byte by byte. */
class PgOutputTest {

    private static void string(ByteBuf b, String s) {
        b.writeBytes(s.getBytes(StandardCharsets.UTF_8)).writeByte(0);
    }

    @Test
    void relationAndUpdateWithOldKeyAndAnUnchangedToastValue() {
        ByteBuf r = Unpooled.buffer();
        r.writeByte('R').writeInt(16385);
        string(r, "public");
        string(r, "orders");
        r.writeByte('d').writeShort(2);
        r.writeByte(1);
        string(r, "id");
        r.writeInt(20).writeInt(-1);
        r.writeByte(0);
        string(r, "note");
        r.writeInt(25).writeInt(-1);
        PgOutput.Relation relation = (PgOutput.Relation) PgOutput.decode(r);
        assertThat(relation.schema()).isEqualTo("public");
        assertThat(relation.columns()).extracting(PgOutput.Column::name).containsExactly("id", "note");
        assertThat(relation.columns().get(0).key()).isTrue();

        ByteBuf u = Unpooled.buffer();
        u.writeByte('U').writeInt(16385).writeByte('K').writeShort(2).writeByte('t').writeInt(1).writeByte('3')
                .writeByte('n').writeByte('N').writeShort(2).writeByte('t').writeInt(2).writeBytes("30".getBytes())
                .writeByte('u');
        PgOutput.Change change = (PgOutput.Change) PgOutput.decode(u);
        assertThat(change.kind()).isEqualTo('U');
        assertThat(change.old().values()).containsExactly("3", null);
        assertThat(change.row().values()[0]).isEqualTo("30");
        assertThat(change.row().values()[1]).isSameAs(PgOutput.UNCHANGED);
    }

    @Test
    void beginAndCommitCarryTheirLsns() {
        ByteBuf b = Unpooled.buffer().writeByte('B').writeLong(0x1_0000_0100L).writeLong(5).writeInt(9);
        assertThat(PgOutput.decode(b)).isEqualTo(new PgOutput.Begin(0x1_0000_0100L, 5, 9));
        ByteBuf c = Unpooled.buffer().writeByte('C').writeByte(0).writeLong(0x100).writeLong(0x120).writeLong(5);
        assertThat(PgOutput.decode(c)).isEqualTo(new PgOutput.Commit(0x100, 0x120, 5));
        assertThat(PgOutput.lsn(0x1_0000_0100L)).isEqualTo("1/100");
        assertThat(PgOutput.lsn("1/100")).isEqualTo(0x1_0000_0100L);
    }

    @Test
    void aHeartbeatMessageBetweenTransactionsIsACommitPointAndOtherMessagesAreSkipped() {
        ByteBuf m = Unpooled.buffer().writeByte('M').writeByte(0).writeLong(0x2_0000_0040L);
        string(m, ChangeDecoder.HEARTBEAT);
        m.writeInt(3).writeBytes("abc".getBytes(StandardCharsets.UTF_8));
        PgOutput.Message message = PgOutput.decode(m);
        assertThat(message).isEqualTo(new PgOutput.LogicalMessage(false, 0x2_0000_0040L, ChangeDecoder.HEARTBEAT));

        ChangeDecoder decoder = new ChangeDecoder(java.util.Map.of(), 10, 1 << 20);
        assertThat(decoder.accept(message)).containsExactly(new ChangeDecoder.Committed(0x2_0000_0040L, null));
        assertThat(decoder.accept(new PgOutput.LogicalMessage(false, 7, "someone_else"))).isEmpty();
        assertThat(decoder.accept(new PgOutput.LogicalMessage(true, 7, ChangeDecoder.HEARTBEAT))).isEmpty();
    }
}
