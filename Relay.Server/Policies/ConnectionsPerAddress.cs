using System.Collections.Concurrent;
using System.Net;

namespace Relay.Server.Policies;

/// Open WebSocket connections per client address, counted at the upgrade and released when the
/// connection ends; past the limit the upgrade is answered 429.
internal sealed class ConnectionsPerAddress(int limit)
{
    private readonly ConcurrentDictionary<IPAddress, int> _open = new();

    public ConnectionPolicy Policy => session =>
    {
        if (limit <= 0) return null;
        while (true)
        {
            var n = _open.GetOrAdd(session.Address, 0);
            if (n >= limit) return (429, $"too many connections from your address (max {limit})");
            if (_open.TryUpdate(session.Address, n + 1, n)) { session.CountedAddress = true; return null; }
        }
    };

    /// The connection of a counted session has ended.
    public void Release(ConnectionSession session)
    {
        if (!session.CountedAddress) return;
        session.CountedAddress = false;
        while (_open.TryGetValue(session.Address, out var n))
        {
            if (n <= 1 ? _open.TryRemove(new KeyValuePair<IPAddress, int>(session.Address, n)) : _open.TryUpdate(session.Address, n - 1, n)) return;
        }
    }
}
