namespace Relay.Server.Subscriptions;

/// A connection's open subscriptions by id: the one owner of that map. The receive loop adds and
/// closes; a subscription that closes itself (too many held events) or whose query fails
/// removes itself from another thread, hence the lock. Created empty; the map comes with the first REQ.
internal sealed class ConnectionSubscriptions
{
    private Dictionary<string, Subscription>? _byId;

    public int Count { get { lock (this) return _byId?.Count ?? 0; } }

    /// Adds the subscription, replacing one with the same id (NIP-01), unless that would open
    /// more than <paramref name="max"/>. The replaced one is returned for the caller to close.
    public bool TryAdd(Subscription sub, int max, out Subscription? replaced)
    {
        lock (this)
        {
            _byId ??= new Dictionary<string, Subscription>(StringComparer.Ordinal);
            if (!_byId.Remove(sub.SubId, out replaced) && _byId.Count >= max) return false;
            _byId[sub.SubId] = sub;
            return true;
        }
    }

    public Subscription? Remove(string subId)
    {
        lock (this) return _byId is not null && _byId.Remove(subId, out var sub) ? sub : null;
    }

    /// Removes this very subscription (not a newer one that took its id).
    public bool Remove(Subscription sub)
    {
        lock (this)
        {
            if (_byId is null || !_byId.TryGetValue(sub.SubId, out var held) || held != sub) return false;
            _byId.Remove(sub.SubId);
            return true;
        }
    }

    public Subscription[] TakeAll()
    {
        lock (this)
        {
            if (_byId is null) return [];
            var all = _byId.Values.ToArray();
            _byId.Clear();
            return all;
        }
    }
}
