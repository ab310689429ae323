using Relay.Storage.Model;

namespace Relay.Server.Subscriptions;

/// Live subscriptions, indexed so that an event finds its candidate filters without scanning
/// them all: each filter sits under its most selective key (ids, then authors, then one tag's
/// values, then kinds, else "match-all"); an event looks up its id, pubkey, tags and kind.
internal sealed class SubscriptionIndex
{
    /// One filter of one subscription, filed under one or more keys.
    internal sealed class Entry(Subscription sub, NostrFilter filter)
    {
        public Subscription Subscription { get; } = sub;
        public NostrFilter Filter { get; } = filter;
    }

    private readonly object _gate = new();
    private readonly Dictionary<Key32, HashSet<Entry>> _byId = [];
    private readonly Dictionary<Key32, HashSet<Entry>> _byAuthor = [];
    private readonly Dictionary<(char, string), HashSet<Entry>> _byTag = new();
    private readonly Dictionary<int, HashSet<Entry>> _byKind = new();
    private readonly HashSet<Entry> _all = [];
    private long _seq;
    private int _count;

    // With read replicas: the last stored events dispatched, oldest first from _recentStart, so a
    // subscription whose query ran on a replica that had not replayed some of them yet still gets
    // them (see TryCatchUp). Bounded by count and by bytes (events may be large). Empty otherwise.
    private readonly (long Seq, NostrEvent Event)[] _recent;
    private readonly long _recentBytesMax;
    private int _recentStart, _recentCount;
    private long _recentBytes;
    private long _evictedCommitMax;   // highest commit position among events that left _recent
    private long _latestCommit;       // highest commit position dispatched

    /// <paramref name="recentEvents"/>, <paramref name="recentBytes"/>: how many dispatched events,
    /// and how many bytes of them, to keep for replica catch-up (0: none).
    public SubscriptionIndex(int recentEvents = 0, long recentBytes = 64L * 1024 * 1024)
    {
        _recent = new (long, NostrEvent)[recentEvents];
        _recentBytesMax = recentBytes;
    }

    public int Count { get { lock (_gate) return _count; } }

    public void Add(Subscription sub)
    {
        lock (_gate)
        {
            if (sub.InIndex) return;
            sub.InIndex = true;
            sub.RegisteredAt = _seq;
            sub.CommitsBefore = _latestCommit;
            _count++;
            foreach (var f in sub.Filters)
            {
                if (f.MatchesNothing) continue;
                var entry = new Entry(sub, f);
                sub.Entries.Add(entry);
                ForEachKey(f, entry, static (set, e) => set.Add(e), create: true);
            }
        }
    }

    public void Remove(Subscription sub)
    {
        sub.Close();
        lock (_gate)
        {
            if (!sub.InIndex) return;
            sub.InIndex = false;
            _count--;
            foreach (var entry in sub.Entries)
                ForEachKey(entry.Filter, entry, static (set, e) => set.Remove(e), create: false);
            sub.Entries.Clear();
        }
    }

    /// Offers the event to every subscription with a matching filter, once per subscription.
    /// Returns how many subscriptions took it. Only the look-up holds the lock; offering happens
    /// after, so REQ and CLOSE never wait on a fan-out. Allocates nothing (one list per thread).
    public int Dispatch(NostrEvent e)
    {
        var matched = t_matched ??= [];
        matched.Clear();
        Match(e, matched);
        var delivered = 0;
        foreach (var sub in matched)
            if (sub.Offer(e)) delivered++;
        return delivered;
    }

    [ThreadStatic] private static List<Subscription>? t_matched;

    /// Appends the subscriptions with a filter matching the event, once each.
    private void Match(NostrEvent e, List<Subscription> into)
    {
        lock (_gate)
        {
            var seq = ++_seq;
            if (e.CommitSeq > _latestCommit) _latestCommit = e.CommitSeq;
            if (_recent.Length > 0 && e.CommitSeq != 0) Keep(seq, e);   // ephemeral events are never stored: nothing to catch up
            Visit(_byId.GetValueOrDefault(e.IdKey), e, seq, into);
            Visit(_byAuthor.GetValueOrDefault(e.PubkeyKey), e, seq, into);
            foreach (var t in e.Tags)
                if (t.Length >= 2 && t[0].Length == 1)
                    Visit(_byTag.GetValueOrDefault((t[0][0], t[1])), e, seq, into);
            Visit(_byKind.GetValueOrDefault(e.Kind), e, seq, into);
            Visit(_all, e, seq, into);
        }
    }

    private void Keep(long seq, NostrEvent e)
    {
        while (_recentCount > 0 && (_recentCount == _recent.Length || _recentBytes + e.Raw.Length > _recentBytesMax))
        {
            ref var oldest = ref _recent[_recentStart];
            if (oldest.Event.CommitSeq > _evictedCommitMax) _evictedCommitMax = oldest.Event.CommitSeq;
            _recentBytes -= oldest.Event.Raw.Length;
            oldest = default;
            _recentStart = (_recentStart + 1) % _recent.Length;
            _recentCount--;
        }
        _recent[(_recentStart + _recentCount) % _recent.Length] = (seq, e);
        _recentCount++;
        _recentBytes += e.Raw.Length;
    }

    /// The events a query that saw commits up to <paramref name="position"/> could not see and the
    /// subscription was not offered (dispatched before it was registered): none when the query ran
    /// on the primary, the replica's lag when it ran on a replica. False when the query must run
    /// where it sees them (the primary) instead: some are no longer kept, or one of them deletes
    /// or replaces events (kind 5, 62, replaceable, addressable), which the replica's answer may
    /// still hold. Filters with limit 0 asked for no stored events and get none.
    public bool TryCatchUp(Subscription sub, long position, ref List<NostrEvent>? into)
    {
        if (position >= sub.CommitsBefore) return true;
        lock (_gate)
        {
            if (_recent.Length == 0 || _evictedCommitMax > position) return false;
            for (var k = 0; k < _recentCount; k++)
            {
                var (seq, e) = _recent[(_recentStart + k) % _recent.Length];
                if (seq > sub.RegisteredAt) break;
                if (e.CommitSeq <= position) continue;
                if (e.Kind is Kinds.Deletion or Kinds.RequestToVanish || e.Class is KindClass.Replaceable or KindClass.Addressable) return false;
                foreach (var f in sub.Filters)
                    if (f.Limit != 0 && f.Matches(e)) { (into ??= []).Add(e); break; }
            }
            return true;
        }
    }

    private static void Visit(HashSet<Entry>? set, NostrEvent e, long seq, List<Subscription> into)
    {
        if (set is null) return;
        foreach (var entry in set)
        {
            var sub = entry.Subscription;
            if (sub.LastOfferedSeq == seq || !entry.Filter.Matches(e)) continue;
            sub.LastOfferedSeq = seq;
            into.Add(sub);
        }
    }

    private void ForEachKey(NostrFilter f, Entry entry, Action<HashSet<Entry>, Entry> act, bool create)
    {
        if (f.IdKeys is { } ids) { foreach (var id in ids) Apply(_byId, id); return; }
        if (f.AuthorKeys is { } authors) { foreach (var a in authors) Apply(_byAuthor, a); return; }
        if (f.Tags.Length > 0)
        {
            var (name, values) = f.Tags[0];
            foreach (var v in values) Apply(_byTag, (name, v));
            return;
        }
        if (f.Kinds is { } kinds) { foreach (var k in kinds) Apply(_byKind, k); return; }
        act(_all, entry);

        void Apply<TKey>(Dictionary<TKey, HashSet<Entry>> map, TKey key) where TKey : notnull
        {
            if (!map.TryGetValue(key, out var set))
            {
                if (!create) return;
                map[key] = set = [];
            }
            act(set, entry);
            if (!create && set.Count == 0) map.Remove(key);
        }
    }
}
