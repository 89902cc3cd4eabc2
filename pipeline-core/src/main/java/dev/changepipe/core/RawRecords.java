package dev.changepipe.core;

import java.util.List;

/**
 * Unparsed records of a chunk (for example a block of log lines) together with the knowledge of how
 * to turn them into {@link ChangeItem}s. A source that defers parsing to the pusher's parse stage puts
 * one of these into its chunks; the pusher calls {@link #parse()} once, on a parse thread, possibly
 * in parallel with the parsing of other chunks.
 *
 * <p>Implementations must be safe to call from any thread (each instance is parsed exactly once) and
 * must not depend on the order in which chunks are parsed. A record that cannot be parsed but should
 * not stop the stream (a malformed line) is the implementation's to report (a dead-letter file);
 * throwing ends the run with that error.
 */
@FunctionalInterface
public interface RawRecords {

    /** Parses the records; called at most once. */
    List<ChangeItem> parse();
}
