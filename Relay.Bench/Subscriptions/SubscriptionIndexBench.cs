using Relay.Server.Policies;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Protocol;
using Relay.Server.Subscriptions;
using Relay.Server.Transport;
using Relay.Storage.Model;

namespace Relay.Bench.Subscriptions;

/// SubscriptionIndex.Dispatch of the sample note with 10k / 100k live subscriptions, 1% of which
/// follow its author: each subscription is one follow-list filter (3 authors, kind 1), 100 per
/// connection (the default MaxSubscriptions), so the matches fan out to as many connections.
/// The other 99% sit under other authors' keys and are never visited; DispatchNoMatch shows the
/// cost of an event nobody follows. A delivery queues the shared parts of the frame (0 B).
[MemoryDiagnoser]
public class SubscriptionIndexBench
{
    private const int SubscriptionsPerConnection = 100;
    private const int MatchEvery = 100;   // 1%

    [Params(10_000, 100_000)]
    public int Subscriptions { get; set; }

    private Socket? _listen, _client, _server;
    private ConnectionRegistry? _registry;
    private SubscriptionIndex _index = null!;
    private ClientConnection[] _matching = [];
    private NostrEvent _unfollowed = null!;

    // The connections are built but never run, so nothing sends: frames would pile up in each
    // outbox. After every Dispatch the benchmark takes them out again (DiscardQueued), as the send
    // loop would, so the per-op time includes one channel read per delivery.

    [GlobalSetup]
    public void Setup()
    {
        (_listen, _client, _server) = LoopbackPair();
        var options = new RelayOptions { DatabaseUrl = "postgres://unused", MaxSendQueueBytes = int.MaxValue };
        _index = new SubscriptionIndex();
        _registry = new ConnectionRegistry(options.HandshakeTimeout, options.IdleTimeout, options.PingInterval);
        var ctx = new ConnectionContext
        {
            Options = options,
            Log = new RelayLog(NullLogger.Instance),
            Metrics = new RelayMetrics(),
            Connections = _registry,
            Subscriptions = _index,
            Parser = new ClientMessageParser(options.MaxSubIdLength, options.MaxFilters),
            Handler = null!,   // only the receive loop uses it, and these connections never run
            Policies = RelayPolicies.Build(options, null, null),
            RelayInfo = [],
        };

        // Every connection wraps the same accepted socket: nothing reads or writes it, and one
        // socket pair per connection would need 2,000 descriptors for the 100k case.
        var rng = new Random(42);
        var matching = new List<ClientConnection>();
        ClientConnection? conn = null;
        for (var i = 0; i < Subscriptions; i++)
        {
            if (i % SubscriptionsPerConnection == 0) conn = new ClientConnection(_server, ctx);
            string[] authors = [RandomHex(rng), RandomHex(rng), RandomHex(rng)];
            if (i % MatchEvery == 0)
            {
                authors[1] = Samples.Kind1Pubkey;
                matching.Add(conn!);
            }
            var sub = new Subscription(conn!, $"feed-{i}", [new NostrFilter { Authors = authors, Kinds = [1] }]);
            _index.Add(sub);
            sub.GoLive(0);   // past EOSE: matches are framed and queued, not held
        }
        _matching = [.. matching.Distinct()];

        using (var other = EventSigner.FromSeed("bench-unfollowed"))
            _unfollowed = other.SignEvent(1, Samples.Kind1Content, Samples.Kind1Tags, Samples.CreatedAt);
        if (Dispatch() != Subscriptions / MatchEvery || DispatchNoMatch() != 0)
            throw new InvalidOperationException("index did not deliver to the expected subscriptions");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _registry?.Dispose();
        _client?.Dispose();
        _server?.Dispose();
        _listen?.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int Dispatch()
    {
        var delivered = _index.Dispatch(Samples.Kind1);
        foreach (var c in _matching) c.DiscardQueued();
        return delivered;
    }

    [Benchmark]
    public int DispatchNoMatch() => _index.Dispatch(_unfollowed);

    private static string RandomHex(Random rng)
    {
        Span<byte> b = stackalloc byte[32];
        rng.NextBytes(b);
        return Convert.ToHexStringLower(b);
    }

    private static (Socket Listen, Socket Client, Socket Server) LoopbackPair()
    {
        var listen = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listen.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listen.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listen.LocalEndPoint!);
        return (listen, client, listen.Accept());
    }
}
