package dev.changepipe.source.cdc;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The messages of PostgreSQL's {@code pgoutput} plugin, protocol version 1 (PostgreSQL 10 and later,
 * "Logical Replication Message Formats" in its documentation), decoded from the bytes of one
 * {@code XLogData} message. Values arrive in text form; a {@link Tuple} keeps them as strings, with
 * {@link #UNCHANGED} for an unchanged TOASTed value that the WAL does not carry.
 */
final class PgOutput {

    /** The value of a column that an update left unchanged and the WAL does not repeat (TOAST). */
    static final String UNCHANGED = new String("(unchanged toast)");

    private PgOutput() {
    }

    sealed interface Message permits Begin, Commit, Relation, Change, Truncate, LogicalMessage, Other {
    }

    /** {@code B}: a transaction starts; {@code finalLsn} is the LSN of its commit record. */
    record Begin(long finalLsn, long commitTimeMicros, int xid) implements Message {
    }

    /** {@code C}: it committed; {@code endLsn} is where the next transaction's records may start. */
    record Commit(long commitLsn, long endLsn, long commitTimeMicros) implements Message {
    }

    /** {@code R}: a table's columns, sent before its first change and after each change of its shape. */
    record Relation(int id, String schema, String name, char replicaIdentity, List<Column> columns) implements Message {
    }

    /** One column of a relation; {@code key} when it is part of the replica identity. */
    record Column(String name, int typeOid, int typeModifier, boolean key) {
    }

    /** {@code I}, {@code U} or {@code D}: one row changed; {@code old} is the old key or row when sent. */
    record Change(char kind, int relation, Tuple old, Tuple row) implements Message {
    }

    /** {@code T}: these tables were truncated. */
    record Truncate(int[] relations, boolean cascade, boolean restartIdentity) implements Message {
    }

    /** Any other message (origin, type, logical message): nothing to do. */
    /**
     * {@code M}: a message written with {@code pg_logical_emit_message} (sent with the option {@code
     * messages}); a non-transactional one comes when it is read from the WAL, between transactions.
     */
    record LogicalMessage(boolean transactional, long lsn, String prefix) implements Message {
    }

    record Other(char kind) implements Message {
    }

    /** A row's values in text form, {@code null} for SQL NULL, {@link #UNCHANGED} for unchanged TOAST. */
    record Tuple(String[] values) {
    }

    /** Decodes one message; the buffer is read from its reader index to its end. */
    static Message decode(ByteBuf in) {
        char kind = (char) in.readByte();
        switch (kind) {
            case 'B':
                return new Begin(in.readLong(), in.readLong(), in.readInt());
            case 'C':
                in.readByte(); // flags, unused
                return new Commit(in.readLong(), in.readLong(), in.readLong());
            case 'R':
                return relation(in);
            case 'I': {
                int relation = in.readInt();
                expect(in, 'N', kind);
                return new Change('I', relation, null, tuple(in));
            }
            case 'U': {
                int relation = in.readInt();
                char next = (char) in.readByte();
                Tuple old = null;
                if (next == 'K' || next == 'O') {
                    old = tuple(in);
                    next = (char) in.readByte();
                }
                if (next != 'N') {
                    throw new IllegalStateException("pgoutput update of relation " + relation
                            + ": expected the new tuple ('N'), got '" + next + "'");
                }
                return new Change('U', relation, old, tuple(in));
            }
            case 'D': {
                int relation = in.readInt();
                char next = (char) in.readByte();
                if (next != 'K' && next != 'O') {
                    throw new IllegalStateException("pgoutput delete of relation " + relation
                            + ": expected the old key ('K') or row ('O'), got '" + next + "'");
                }
                return new Change('D', relation, tuple(in), null);
            }
            case 'T': {
                int count = in.readInt();
                int options = in.readByte();
                int[] relations = new int[count];
                for (int i = 0; i < count; i++) {
                    relations[i] = in.readInt();
                }
                return new Truncate(relations, (options & 1) != 0, (options & 2) != 0);
            }
            case 'M': {
                boolean transactional = (in.readByte() & 1) != 0;
                long lsn = in.readLong();
                String prefix = string(in);
                in.skipBytes(in.readInt()); // the content, unused
                return new LogicalMessage(transactional, lsn, prefix);
            }
            default:
                return new Other(kind);
        }
    }

    private static Relation relation(ByteBuf in) {
        int id = in.readInt();
        String schema = string(in);
        String name = string(in);
        char identity = (char) in.readByte();
        int count = in.readShort();
        List<Column> columns = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int flags = in.readByte();
            String column = string(in);
            columns.add(new Column(column, in.readInt(), in.readInt(), (flags & 1) != 0));
        }
        return new Relation(id, schema, name, identity, List.copyOf(columns));
    }

    private static Tuple tuple(ByteBuf in) {
        int count = in.readShort();
        String[] values = new String[count];
        for (int i = 0; i < count; i++) {
            char kind = (char) in.readByte();
            switch (kind) {
                case 'n':
                    values[i] = null;
                    break;
                case 'u':
                    values[i] = UNCHANGED;
                    break;
                case 't': {
                    int length = in.readInt();
                    values[i] = in.readCharSequence(length, StandardCharsets.UTF_8).toString();
                    break;
                }
                default:
                    throw new IllegalStateException("pgoutput tuple: column " + i + " of kind '" + kind
                            + "' (binary values are not asked for)");
            }
        }
        return new Tuple(values);
    }

    /** A NUL-terminated string. */
    private static String string(ByteBuf in) {
        int end = in.indexOf(in.readerIndex(), in.writerIndex(), (byte) 0);
        if (end < 0) {
            throw new IllegalStateException("pgoutput: a string without its terminating NUL");
        }
        String s = in.toString(in.readerIndex(), end - in.readerIndex(), StandardCharsets.UTF_8);
        in.readerIndex(end + 1);
        return s;
    }

    private static void expect(ByteBuf in, char wanted, char message) {
        char got = (char) in.readByte();
        if (got != wanted) {
            throw new IllegalStateException("pgoutput '" + message + "' message: expected '" + wanted + "', got '"
                    + got + "'");
        }
    }

    /** The LSN in PostgreSQL's {@code X/Y} notation. */
    static String lsn(long value) {
        return Long.toHexString(value >>> 32).toUpperCase() + "/" + Long.toHexString(value & 0xFFFFFFFFL).toUpperCase();
    }

    /** Parses PostgreSQL's {@code X/Y} notation. */
    static long lsn(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("not an LSN (X/Y): " + text);
        }
        return Long.parseLong(text.substring(0, slash), 16) << 32 | Long.parseLong(text.substring(slash + 1), 16);
    }
}
