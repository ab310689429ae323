using Relay.Storage.Model;

namespace Relay.Server.Ingest;

/// A bounded set of recently stored event ids (FIFO eviction), so a re-broadcast event is
/// answered "duplicate" without verifying its signature or touching the database.
internal sealed class RecentIds(int capacity)
{
    private readonly object _gate = new();
    private readonly HashSet<Key32> _set = [];
    private readonly Queue<Key32> _order = new();

    public bool Contains(Key32 id)
    {
        lock (_gate) return _set.Contains(id);
    }

    /// Forgets a deleted event (its slot in the FIFO ages out as usual).
    public void Remove(Key32 id)
    {
        lock (_gate) _set.Remove(id);
    }

    public void Add(Key32 id)
    {
        lock (_gate)
        {
            if (!_set.Add(id)) return;
            _order.Enqueue(id);
            // A removed id may come back and be queued twice; its older slot then evicts it early,
            // which only costs a database look-up later.
            if (_order.Count > capacity) _set.Remove(_order.Dequeue());
        }
    }
}
