using System.Collections.Concurrent;
using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

/// All open connections; one timer sweeps them for handshake and idle timeouts and sends pings,
/// so there is no timer per connection.
internal sealed class ConnectionRegistry : IDisposable
{
    private readonly ConcurrentDictionary<long, ClientConnection> _open = new();
    private readonly Timer _sweep;
    private readonly TimeSpan _handshakeTimeout, _idleTimeout, _pingInterval;
    private static readonly byte[] Ping = FrameWriter.Frame(WebSocketOpcode.Ping, []);

    public ConnectionRegistry(TimeSpan handshakeTimeout, TimeSpan idleTimeout, TimeSpan pingInterval)
    {
        _handshakeTimeout = handshakeTimeout;
        _idleTimeout = idleTimeout;
        _pingInterval = pingInterval;
        var period = TimeSpan.FromSeconds(Math.Clamp(Math.Min(handshakeTimeout.TotalSeconds, pingInterval.TotalSeconds) / 2, 0.5, 5));
        _sweep = new Timer(_ => Sweep(), null, period, period);
    }

    public int Count => _open.Count;
    public void Add(ClientConnection c) => _open[c.Id] = c;
    public void Remove(ClientConnection c) => _open.TryRemove(c.Id, out _);
    public IEnumerable<ClientConnection> All => _open.Values;

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var c in _open.Values)
        {
            switch (c.State)
            {
                case ConnectionState.Handshake when now - c.StartedAt > _handshakeTimeout.TotalMilliseconds:
                    c.Abort();
                    break;
                case ConnectionState.WebSocket when now - c.LastReceivedAt > _idleTimeout.TotalMilliseconds:
                    c.Close(CloseCodes.GoingAway, "idle timeout");
                    break;
                case ConnectionState.WebSocket when now - c.LastPingAt > _pingInterval.TotalMilliseconds:
                    // Clients answer with a pong, which counts as activity for the idle timeout.
                    c.LastPingAt = now;
                    c.Send(Ping);
                    break;
            }
        }
    }

    public void Dispose() => _sweep.Dispose();
}
