package dev.changepipe.service;

import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.EventLoopGroupProvider;
import io.lettuce.core.resource.Transports;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The event loop threads of the HTTP server ({@code http.ioThreads}), shared with the Redis connections
 * its endpoints open ({@code POST /api/operations}, {@code GET /api/hot/...}). A registration is read,
 * sent to Redis and answered on one thread; the Redis reply to a batch of registrations answers every
 * request in it where it arrives. With a Redis client of its own, each request was handed to Lettuce's
 * thread and its answer back to the server's: two thread wake-ups, which were most of the cost of a
 * one-pk registration on a small machine (docs/service.md, "HTTP").
 *
 * <p>The loops use the transport Lettuce picks for its connections (native epoll where available,
 * else NIO); Reactor Netty adapts its server channels to the group. Were Lettuce to pick another
 * transport, the Redis connections get threads of their own instead.
 */
final class HttpEventLoops implements AutoCloseable {

    /** The names of the event loop threads start with it. */
    static final String THREAD_PREFIX = "changepipe-http";

    private final EventLoopGroup group;
    private final ClientResources redis;

    private HttpEventLoops(EventLoopGroup group, ClientResources redis) {
        this.group = group;
        this.redis = redis;
    }

    static HttpEventLoops create(int threads) {
        Class<? extends Channel> redisChannel = Transports.socketChannelClass();
        IoHandlerFactory io = EpollSocketChannel.class.isAssignableFrom(redisChannel) ? EpollIoHandler.newFactory()
                : NioIoHandler.newFactory();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(THREAD_PREFIX, true), io);
        boolean shared = EpollSocketChannel.class.isAssignableFrom(redisChannel)
                || NioSocketChannel.class.isAssignableFrom(redisChannel);
        ClientResources redis = shared
                ? DefaultClientResources.builder().eventLoopGroupProvider(new Shared(group, threads)).build()
                : DefaultClientResources.create();
        return new HttpEventLoops(group, redis);
    }

    /** The server's event loops. */
    EventLoopGroup group() {
        return group;
    }

    /** Lettuce resources whose connections do their I/O on {@link #group()}. */
    ClientResources redis() {
        return redis;
    }

    /** Shuts the Lettuce resources and then the loops down; close the connections and the server first. */
    @Override
    public void close() {
        redis.shutdown(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    }

    /** Hands Lettuce the server's group whatever it asks for; Lettuce neither owns nor shuts it down. */
    private record Shared(EventLoopGroup group, int threads) implements EventLoopGroupProvider {

        @Override
        @SuppressWarnings("unchecked")
        public <T extends EventLoopGroup> T allocate(Class<T> type) {
            return (T) group;
        }

        @Override
        public int threadPoolSize() {
            return threads;
        }

        @Override
        public Future<Boolean> release(EventExecutorGroup eventLoopGroup, long quietPeriod, long timeout, TimeUnit unit) {
            return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
        }

        @Override
        public Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit timeUnit) {
            return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
        }
    }
}
