using System.Security.Cryptography;
using Relay.Server.Observability;
using Relay.Storage.Model;
using StackExchange.Redis;

namespace Relay.Server.Fanout;

/// Joins several relay processes into one relay: every accepted event is delivered locally at
/// once and PUBLISHed on a Redis channel; events other nodes publish arrive through SUBSCRIBE
/// and go to the local index. A message is the sender's node id (so a node skips its own), the
/// event's commit position (big-endian, the live fence), then the event's JSON. If Redis goes
/// away, local delivery goes on and StackExchange.Redis reconnects.
internal sealed class RedisEventBus : IEventBus, IAsyncDisposable
{
    private const int NodeIdLength = 16;
    private const int HeaderLength = NodeIdLength + sizeof(long);
    private readonly LocalEventBus _local;
    private readonly ConnectionMultiplexer _redis;
    private readonly ISubscriber _subscriber;
    private readonly RedisChannel _channel;
    private readonly byte[] _nodeId = RandomNumberGenerator.GetBytes(NodeIdLength);
    private readonly RelayLog _log;
    private readonly RelayMetrics _metrics;
    private readonly Lock _connections = new();
    private int _failedConnections;   // a bit per ConnectionType that is down

    /// Records one connection going down or coming back; true when the whole outage starts or ends.
    private bool Transition(ConnectionType type, bool failed)
    {
        lock (_connections)
        {
            var before = _failedConnections;
            _failedConnections = failed ? before | (1 << (int)type) : before & ~(1 << (int)type);
            return failed ? before == 0 : before != 0 && _failedConnections == 0;
        }
    }

    private RedisEventBus(LocalEventBus local, ConnectionMultiplexer redis, string channel, RelayLog log, RelayMetrics metrics)
    {
        _metrics = metrics;
        _local = local;
        _redis = redis;
        _subscriber = redis.GetSubscriber();
        _channel = RedisChannel.Literal(channel);
        _log = log;
    }

    /// Events other processes publish stop arriving (the hot tier can no longer be complete).
    public event Action? OutageStarted;
    /// Every connection is back.
    public event Action? OutageEnded;

    /// Subscribed: events other processes publish arrive.
    public bool IsUp => _redis.IsConnected && _subscriber.IsConnected(_channel);

    public static async Task<RedisEventBus> ConnectAsync(string url, string channel, LocalEventBus local, RelayLog log, RelayMetrics metrics)
    {
        var options = ConfigurationOptions.Parse(ToConfiguration(url));
        options.AbortOnConnectFail = false;      // start (and keep serving locally) while Redis is down
        options.ClientName = "nostr-relay";
        var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var bus = new RedisEventBus(local, redis, channel, log, metrics);
        // StackExchange.Redis reconnects (with back-off) and restores the subscription by itself;
        // say so once per outage, not once per event. It reports each of its connections (commands,
        // subscription) apart: the outage ends when every one that failed is back.
        redis.ConnectionFailed += (_, e) =>
        {
            metrics.RedisErrors.Increment();
            if (!bus.Transition(e.ConnectionType, failed: true)) return;
            log.RedisLost(e.Exception?.Message ?? e.FailureType.ToString());
            bus.OutageStarted?.Invoke();
        };
        redis.ConnectionRestored += (_, e) =>
        {
            if (!bus.Transition(e.ConnectionType, failed: false)) return;
            log.RedisRestored();
            bus.OutageEnded?.Invoke();
        };
        metrics.AddGauge("relay.redis.connected", "1 while subscribed through Redis (cross-process delivery works), else 0",
            () => bus.IsUp ? 1 : 0);
        await bus._subscriber.SubscribeAsync(bus._channel, (_, message) => bus.OnMessage(message));
        return bus;
    }

    /// `redis://[:password@]host:port[/db]` or StackExchange.Redis's own `host:port,password=…`.
    public static string ToConfiguration(string url)
    {
        if (!url.StartsWith("redis://", StringComparison.Ordinal) && !url.StartsWith("rediss://", StringComparison.Ordinal)) return url;
        var uri = new Uri(url);
        var config = $"{uri.Host}:{(uri.Port > 0 ? uri.Port : 6379)}";
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            if (parts.Length == 2) { if (parts[0].Length > 0) config += ",user=" + Uri.UnescapeDataString(parts[0]); config += ",password=" + Uri.UnescapeDataString(parts[1]); }
            else config += ",password=" + Uri.UnescapeDataString(parts[0]);
        }
        if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db) config += ",defaultDatabase=" + db;
        if (uri.Scheme == "rediss") config += ",ssl=true";
        return config;
    }

    public void Publish(NostrEvent e)
    {
        _local.Publish(e);
        var message = new byte[HeaderLength + e.Raw.Length];
        _nodeId.CopyTo(message, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(NodeIdLength), e.CommitSeq);
        e.Raw.CopyTo(message, HeaderLength);
        try
        {
            _subscriber.Publish(_channel, message, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException)
        {
            // Never let the bus fail the writer that published: local delivery already happened.
            _metrics.RedisErrors.Increment();
            _log.RedisUnavailable(ex.Message);
        }
    }

    private void OnMessage(RedisValue value)
    {
        var message = (byte[]?)value;
        if (message is null || message.Length <= NodeIdLength) return;
        if (message.AsSpan(0, NodeIdLength).SequenceEqual(_nodeId))
        {
            if (message.Length == ProbeLength && _probe is { } probe && message.AsSpan(HeaderLength).SequenceEqual(probe.Nonce)) probe.Heard.TrySetResult();
            return;   // our own event: delivered locally already
        }
        // A node from before the commit position sends the JSON right after its id: a position's
        // first byte is 0 for any count below 2^56, never '{'.
        var legacy = message[NodeIdLength] == (byte)'{';
        if (!legacy && message.Length <= HeaderLength) return;
        var position = legacy ? 0 : System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(message.AsSpan(NodeIdLength));
        // Another node verified and stored it: read only what matching needs, not the id again.
        if (EventParser.FromStored(message.AsSpan(legacy ? NodeIdLength : HeaderLength)) is { } e)
        {
            e.CommitSeq = position;
            _local.Publish(e);
        }
    }

    private const int ProbeLength = HeaderLength + 16;
    private sealed record Probe(byte[] Nonce, TaskCompletionSource Heard);
    private volatile Probe? _probe;

    /// Whether a message published now comes back through the subscription within 2 s: after a
    /// reconnect the connection may be up before the subscription is restored, and events
    /// published meanwhile would never arrive. (Other nodes ignore it: it carries no JSON.)
    public async Task<bool> ProveSubscribedAsync(CancellationToken ct)
    {
        if (!IsUp) return false;
        var probe = new Probe(RandomNumberGenerator.GetBytes(16), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _probe = probe;
        var message = new byte[ProbeLength];
        _nodeId.CopyTo(message, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(NodeIdLength), -1);
        probe.Nonce.CopyTo(message, HeaderLength);
        try
        {
            await _subscriber.PublishAsync(_channel, message);
            await probe.Heard.Task.WaitAsync(TimeSpan.FromSeconds(2), ct);
            return true;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
    }

    /// Never throws: whatever state the connection is in (down, half restored), the relay stops.
    public async ValueTask DisposeAsync()
    {
        try { await _subscriber.UnsubscribeAllAsync().WaitAsync(TimeSpan.FromSeconds(2)); }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException) { }
        try { await _redis.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(2)); }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException) { }
        try { _redis.Dispose(); }
        catch (Exception e) when (e is RedisException or ObjectDisposedException or InvalidOperationException) { }
    }
}
