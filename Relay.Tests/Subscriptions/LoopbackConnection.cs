using System.Net;
using System.Net.Sockets;
using Relay.Server.Policies;
using Relay.Server.Verify;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.Ingest;
using Relay.Server.Observability;
using Relay.Server.Protocol;
using Relay.Server.Req;
using Relay.Server.Subscriptions;
using Relay.Server.Transport;

namespace Relay.Tests.Subscriptions;

/// A ClientConnection on a connected loopback socket pair, for tests that need Subscription
/// objects without a running relay. Its receive loop never runs: frames it is asked to send
/// stay queued, so Send succeeds (the send queue limit is lifted) and nothing reaches the peer.
internal sealed class LoopbackConnection : IDisposable
{
    private readonly Socket _client;
    private readonly Socket _server;
    private readonly ConnectionRegistry _registry;
    private readonly NpgsqlDataSource _unusedDb;

    public ClientConnection Connection { get; }

    public LoopbackConnection()
    {
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _client.Connect(listener.LocalEndpoint);
            _server = listener.AcceptSocket();
        }
        var options = new RelayOptions { DatabaseUrl = "Host=127.0.0.1;Database=unused", MaxSendQueueBytes = int.MaxValue };
        var metrics = new RelayMetrics();
        var log = new RelayLog(NullLogger.Instance);
        var index = new SubscriptionIndex();
        // Never opened: the handler is required by the context but no message is ever handled.
        _unusedDb = new NpgsqlSlimDataSourceBuilder(options.DatabaseUrl).Build();
        _registry = new ConnectionRegistry(options.HandshakeTimeout, options.IdleTimeout, options.PingInterval);
        var policies = RelayPolicies.Build(options, null, null);
        Connection = new ClientConnection(_server, new ConnectionContext
        {
            Options = options,
            Log = log,
            Metrics = metrics,
            Connections = _registry,
            Subscriptions = index,
            Parser = new ClientMessageParser(options.MaxSubIdLength, options.MaxFilters),
            Handler = new MessageHandler(
                new EventIngester(policies.Write, new VerifyQueues(1, 16), new RecentIds(16), metrics),
                new ReqHandler(new ReadDatabases(_unusedDb, [], metrics, log), index, policies, options, metrics, new DatabaseHealth(log, metrics, "queries")),
                new Authentication(options.RelayUrl), policies.Rates, metrics),
            Policies = policies,
            RelayInfo = [],
        });
    }

    public void Dispose()
    {
        _registry.Dispose();
        _unusedDb.Dispose();
        _server.Dispose();
        _client.Dispose();
    }
}
