package dev.changepipe.source.oplog;

import dev.changepipe.core.ChangeItem;
import java.util.List;
import java.util.Map;

/**
 * Turns one line of an operation log into changes. Users may implement it for their own format; the
 * built-in ones are {@link #django(Map)} (the Django-style log of the seed article) and
 * {@link #jsonLines()}.
 *
 * <p><b>Threading.</b> Called from the pusher's parse stage, possibly from several threads at once
 * (the parse-queue pusher parses chunks in parallel): implementations must be thread safe and must
 * not depend on the order in which lines are parsed.
 *
 * <p><b>Ownership.</b> The {@link OplogLine} and its buffer belong to the source and are only valid
 * during the call; copy what you keep.
 *
 * <p><b>Versions.</b> Every item must carry {@code line.version(i)}, where {@code i} is the item's
 * index within the line (0, 1, 2...); that keeps versions deterministic and strictly increasing in log
 * order.
 *
 * <p><b>Errors.</b> A line that cannot be parsed throws {@link MalformedLineException}: the source then
 * sends the line to its dead-letter file and goes on (or fails, if so configured). A line of several
 * changes of which only some cannot be replicated (no key, a save without its row) keeps the others:
 * the parser returns those and calls {@link OplogLine#reject} for each bad one, which the source
 * dead-letters alone. Any other exception is a bug and ends the run.
 */
@FunctionalInterface
public interface LineParser {

    /**
     * Parses one complete line (without its line terminator; already checked to be valid UTF-8 and not
     * longer than the configured maximum). Returns the changes in the order they happened; an empty
     * list for a line that holds none.
     *
     * @throws MalformedLineException when the line is not in the expected format
     */
    List<ChangeItem> parse(OplogLine line);

    /**
     * The Django-style format of the seed article: {@code <unix time> SAVE|DELETE <json array>}, where
     * each element is {@code {"model": "app.model", "pk": <pk>, "fields": {...}}}. A SAVE gives
     * {@link ChangeItem.Kind#UPDATE} items (sinks upsert), a DELETE gives {@link ChangeItem.Kind#DELETE}
     * items with the fields as the image when present. Table = the model string; key =
     * {@code {"<pk field>": pk}}; values = the fields plus the pk field. An element without a model, a
     * non-null scalar pk, or (for a SAVE) its fields is rejected alone ({@link OplogLine#reject}).
     *
     * @param pkFields the name of the primary-key field per model; models not listed use {@code id}
     */
    static LineParser django(Map<String, String> pkFields) {
        return new DjangoLineParser(pkFields);
    }

    /**
     * JSON Lines: {@code {"op": "insert|update|delete", "table": "...", "key": {...}, "values": {...}}},
     * with an optional {@code "ts"} (unix seconds) as the commit time.
     */
    static LineParser jsonLines() {
        return new JsonLinesParser();
    }
}
