package dev.changepipe.sink.clickhouse;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import reactor.core.scheduler.Schedulers;

/**
 * Converts and encodes the rows of one insert before any byte is sent, then streams them into the
 * request body. Rows are cut into slices of {@value #SLICE} that are converted and encoded in parallel
 * on Reactor's parallel scheduler (CPU work). Converting everything first means a value that does not
 * convert fails the write before the server saw anything: a half-sent body can be committed by the
 * server (it ends on a row boundary), so aborting mid-stream is not safe. The encoded slices (a few
 * dozen bytes a row, far less than the items themselves) are the only copy held; the batch is never
 * built as one String or one array.
 */
final class SliceEncoder {

    /** Rows per slice. */
    static final int SLICE = 8192;

    private SliceEncoder() {
    }

    /** The insert's rows, encoded, in order; throws the first conversion error. */
    static List<byte[]> encode(InsertFormat format, TableWriter table, TableWriter.Insert insert, int threads) {
        int rows = insert.rows().size();
        if (threads <= 1 || rows < 2 * SLICE) {
            List<byte[]> slices = new ArrayList<>();
            for (int from = 0; from < rows; from += SLICE) {
                slices.add(encodeSlice(format, table, insert, from, Math.min(rows, from + SLICE)));
            }
            return slices;
        }
        List<CompletableFuture<byte[]>> futures = new ArrayList<>();
        for (int from = 0; from < rows; from += SLICE) {
            int start = from;
            int end = Math.min(rows, from + SLICE);
            CompletableFuture<byte[]> slice = new CompletableFuture<>();
            Schedulers.parallel().schedule(() -> {
                try {
                    slice.complete(encodeSlice(format, table, insert, start, end));
                } catch (Throwable e) {
                    slice.completeExceptionally(e);
                }
            });
            futures.add(slice);
        }
        List<byte[]> slices = new ArrayList<>(futures.size());
        try {
            for (CompletableFuture<byte[]> f : futures) {
                slices.add(f.join());
            }
        } catch (CompletionException e) {
            futures.forEach(f -> f.cancel(false));
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
        return slices;
    }

    /** Writes encoded slices to the request body. */
    static void write(OutputStream out, List<byte[]> slices) throws IOException {
        for (byte[] slice : slices) {
            out.write(slice);
        }
        out.flush();
    }

    private static byte[] encodeSlice(InsertFormat format, TableWriter table, TableWriter.Insert insert, int from,
            int to) {
        if (format == InsertFormat.ROW_BINARY && table.isStreamed(insert)) {
            return new ItemEncoder(table, to - from).encode(insert.rows(), from, to, insert.chunk());
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream((to - from) * 48);
        RowEncoder encoder = RowEncoder.of(format, bytes);
        ColumnType[] types = table.types();
        int[] columns = insert.columns();
        try {
            for (int i = from; i < to; i++) {
                encoder.writeRow(types, table.values(insert, i), columns);
            }
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not throw
        }
        return bytes.toByteArray();
    }
}
