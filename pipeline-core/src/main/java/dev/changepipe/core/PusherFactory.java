package dev.changepipe.core;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.function.Consumer;

/**
 * Makes the pusher of one pipeline run. The pusher modules provide factories
 * ({@code SyncPusher.factory()}, {@code ParseQueuePusher.factory(options)}).
 */
@FunctionalInterface
public interface PusherFactory {

    /**
     * Creates a pusher that writes to {@code sinks} and hands every ack to {@code acks}, serially and
     * in push order. An exception thrown by {@code acks} ends the pusher with that error.
     *
     * @param name the pipeline's name, used as a metric tag
     */
    Pusher create(String name, List<Sink> sinks, Consumer<Ack> acks, MeterRegistry registry);
}
