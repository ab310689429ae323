using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Transport;
using Relay.Server.WebSockets;
using Relay.Storage.Model;

namespace Relay.Server.Subscriptions;

/// One REQ: its filters, and the hand-over from stored results to live events. Live events that
/// arrive while the stored query runs are held, then sent after EOSE unless the query sent them.
internal sealed class Subscription
{
    /// Live events held during the stored query; past this the subscription is closed.
    public const int MaxPending = 10_000;

    private readonly object _gate = new();
    private List<NostrEvent>? _pending = [];
    /// Ids the stored query sent, kept for a short while after EOSE: an event committed before
    /// the query's snapshot can still be on its way through the bus (the writer publishes after
    /// its commit, the bus dispatches in turn) and must not be sent a second time.
    private HashSet<Key32>? _sentByQuery;
    private bool _closed;
    private readonly CancellationTokenSource _cancel;
    private readonly PrivateKinds? _private;
    private readonly SubscriptionIndex? _index;

    /// <paramref name="index"/>: where the subscription is filed, so it can take itself out when
    /// it closes on its own; <paramref name="privateKinds"/>: who may see DMs and gift wraps.
    public Subscription(ClientConnection connection, string subId, NostrFilter[] filters,
        PrivateKinds? privateKinds = null, SubscriptionIndex? index = null)
    {
        _private = privateKinds;
        _index = index;
        Connection = connection;
        SubId = subId;
        SubIdJson = Replies.SubIdJson(subId);
        Filters = filters;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(connection.Aborted);
    }

    public ClientConnection Connection { get; }
    public string SubId { get; }
    public byte[] SubIdJson { get; }
    public NostrFilter[] Filters { get; }
    public CancellationToken Cancelled => _cancel.Token;
    /// Index entries of this subscription, so removal needn't search.
    public List<SubscriptionIndex.Entry> Entries { get; } = [];
    /// Guarded by the index's lock.
    public bool InIndex { get; set; }
    /// Sequence number of the last event offered; lets the dispatcher offer each event once.
    public long LastOfferedSeq { get; set; }

    /// A live event that matched one of the filters.
    public bool Offer(NostrEvent e)
    {
        if (_private is { } p && p.IsPrivate(e.Kind) && !p.MaySee(e, Connection.Session)) return false;
        lock (_gate)
        {
            if (_closed) return false;
            if (_pending is { } pending)
            {
                if (pending.Count < MaxPending)
                {
                    pending.Add(e);
                    return false;
                }
                CloseLocked();
                Connection.Send(Replies.Closed(SubIdJson, "error: too many live events while the stored query ran"));
            }
            else if (_sentByQuery is { } sent && sent.Contains(Key32.Parse(e.Id))) return false;
            else return Connection.Send(OutboundFrame.LiveEvent(SubIdJson, e.Raw));
        }
        // Closed on its own: out of the index and the connection's map, so it no longer counts.
        Drop();
        return false;
    }

    /// Takes a subscription that ended on its own (overflow, failed query) out of everything
    /// that holds it.
    public void Drop()
    {
        Connection.Subscriptions.Remove(this);
        if (_index is not null) _index.Remove(this);
        else Close();
    }

    /// After EOSE: send the held events the stored query did not send, then go live.
    public int GoLive(HashSet<Key32> sentIds)
    {
        lock (_gate)
        {
            if (_closed || _pending is null) return 0;
            var n = 0;
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            foreach (var e in _pending)
                if (!sentIds.Contains(Key32.Parse(e.Id)) && !(e.Expiration <= now)   // NIP-40: expired while held
                    && Connection.Send(OutboundFrame.LiveEvent(SubIdJson, e.Raw))) n++;
            _pending = null;
            if (sentIds.Count > 0)
            {
                _sentByQuery = sentIds;
                _ = ForgetSentAfterAsync();
            }
            return n;
        }
    }

    /// How long after EOSE the query's ids still filter live events: far longer than the
    /// commit → publish → dispatch lag of a healthy relay, short enough to hold little memory.
    private static readonly TimeSpan SentIdsKeptFor = TimeSpan.FromSeconds(5);

    private async Task ForgetSentAfterAsync()
    {
        await Task.Delay(SentIdsKeptFor);
        lock (_gate) _sentByQuery = null;
    }

    public void Close()
    {
        lock (_gate) CloseLocked();
    }

    private void CloseLocked()
    {
        if (_closed) return;
        _closed = true;
        _pending = null;
        _sentByQuery = null;
        try { _cancel.Cancel(); } catch (ObjectDisposedException) { }
    }
}
