using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Transport;
using Relay.Server.WebSockets;
using Relay.Storage.Model;

namespace Relay.Server.Subscriptions;

/// One REQ: its filters, and the hand-over from stored results to live events. Live events that
/// arrive while the stored query runs are held; after EOSE, those the query's snapshot could
/// already see are dropped and the rest sent. The fence is the commit position the query read
/// (see 006_commit_position.sql), so it holds however late the bus delivers an event, and an
/// event the query left out because of its limit is not sent as new either.
internal sealed class Subscription
{
    /// Live events held during the stored query; past this the subscription is closed.
    public const int MaxPending = 10_000;

    private readonly object _gate = new();
    private List<NostrEvent>? _pending = [];
    /// What the stored answer saw, see <see cref="StoredFence"/>.
    private StoredFence _fence;
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
    /// The dispatcher's sequence number when the subscription was filed: later events are offered.
    public long RegisteredAt { get; set; }
    /// The highest commit position dispatched before then (a query that saw less missed some).
    public long CommitsBefore { get; set; }

    /// A live event that matched one of the filters.
    public bool Offer(NostrEvent e)
    {
        if (!MaySee(e)) return false;
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
            else if (SeenByQuery(e)) return false;
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

    private bool MaySee(NostrEvent e) => _private is not { } p || !p.IsPrivate(e.Kind) || p.MaySee(e, Connection.Session);

    /// Events the stored query's replica could not see yet, dispatched before this subscription
    /// existed (<see cref="SubscriptionIndex.TryCatchUp"/>): sent after EOSE, before the held ones.
    public void AddCaughtUp(List<NostrEvent> events)
    {
        lock (_gate)
            if (_pending is { } pending) pending.InsertRange(0, events.Where(MaySee));
    }

    private bool SeenByQuery(NostrEvent e)
    {
        var f = _fence;
        if (f.Sources is not { } sources) return SeenByDatabase(e, f);
        if (f.Sent is null)
        {
            // One source for all filters (the tier): its snapshot saw the event or it did not.
            return SeenByTier(e, f);
        }
        // Both: an event sent is seen; otherwise it is seen (left out by limits) only if every
        // filter it matches was answered from a snapshot that had it. A filter split between
        // the two saw it in whichever part its id was in.
        if (f.Sent.Contains(e.IdKey)) return true;
        var matched = false;
        for (var i = 0; i < Filters.Length; i++)
        {
            if (!Filters[i].Matches(e)) continue;
            matched = true;
            var seen = ((sources[i] & StoredFence.FromTier) != 0 && SeenByTier(e, f))
                    || ((sources[i] & StoredFence.FromDatabase) != 0 && SeenByDatabase(e, f));
            if (!seen) return false;
        }
        return matched;
    }

    private static bool SeenByDatabase(NostrEvent e, in StoredFence f) => e.CommitSeq != 0 && e.CommitSeq <= f.CommitPosition;
    private static bool SeenByTier(NostrEvent e, in StoredFence f) => e.TierSeq != 0 && e.TierSeq <= f.TierPosition;

    /// After EOSE: send the held events the stored query could not see, then go live.
    /// <paramref name="seenUpTo"/>: the commit position the query read (0 if none ran).
    public int GoLive(long seenUpTo) => GoLive(new StoredFence(seenUpTo, 0, null));

    public int GoLive(StoredFence fence)
    {
        lock (_gate)
        {
            if (_closed || _pending is null) return 0;
            _fence = fence;
            var n = 0;
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            foreach (var e in _pending)
                if (!SeenByQuery(e) && !(e.Expiration <= now)   // NIP-40: expired while held
                    && Connection.Send(OutboundFrame.LiveEvent(SubIdJson, e.Raw))) n++;
            _pending = null;
            return n;
        }
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
        try { _cancel.Cancel(); } catch (ObjectDisposedException) { }
    }
}

/// What a REQ's stored answer saw, so that live events it already returned (or left out by a
/// limit) are not sent again. PostgreSQL's part saw commits up to <see cref="CommitPosition"/>;
/// the hot tier's part saw the events it had taken up to <see cref="TierPosition"/> (TierSeq).
/// <see cref="Sources"/>: per filter, which answered it (null: PostgreSQL answered them all);
/// <see cref="Sent"/>: when both answered, the ids sent.
internal readonly record struct StoredFence(long CommitPosition, long TierPosition, byte[]? Sources, HashSet<Key32>? Sent = null)
{
    public const byte FromTier = 1, FromDatabase = 2;
}
