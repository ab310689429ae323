using Npgsql;
using Relay.Storage.Model;

namespace Relay.Server.HotTier;

/// The newest stored events in memory, indexed for REQ filters (kept by HotTierKeeper). Holds every stored event with created_at at or after <see cref="Horizon"/>;
/// the horizon moves forward (whole seconds at a time) as the byte budget fills. It is fed the
/// events the database stored, in any order (the local writer and the bus interleave), and
/// applies the database's rules itself: the newest version of a replaceable or addressable
/// event wins (ties: lowest id), NIP-09 deletions and NIP-62 requests to vanish remove what they
/// name and keep refusing it, NIP-40 expiration is checked when asked. So it can answer a
/// filter exactly as PostgreSQL would whenever the whole answer lies at or after the horizon.
/// Not thread-safe: the caller serialises (one lock; the bus loop feeds it).
internal sealed class RecentEvents(long budgetBytes, string? relayUrl = null)
{
    private sealed class Held(NostrEvent e)
    {
        public readonly NostrEvent Event = e;
        public readonly Key32 Id = e.IdKey;
        public readonly long CreatedAt = e.CreatedAt;   // here, not behind Event: compared on every index step
    }

    /// NIP-01 order: created_at descending, then id ascending (Key32 compares as the bytes do).
    private sealed class NewestFirst : IComparer<Held>
    {
        public static readonly NewestFirst Instance = new();

        public int Compare(Held? x, Held? y)
        {
            if (ReferenceEquals(x, y)) return 0;
            var c = y!.CreatedAt.CompareTo(x!.CreatedAt);
            return c != 0 ? c : x.Id.CompareTo(y.Id);
        }
    }

    private readonly Dictionary<Key32, Held> _byId = [];
    private readonly Dictionary<Key32, SortedSet<Held>> _byAuthor = [];
    private readonly Dictionary<(char, string), SortedSet<Held>> _byTag = [];
    private readonly Dictionary<int, SortedSet<Held>> _byKind = [];
    // Strings many held events share: authors (also as `p` values) and tag names.
    private readonly Dictionary<string, string> _shared = new(StringComparer.Ordinal);
    private readonly Dictionary<(Key32, int, string), Held> _versions = [];
    // What deletion and vanish requests named, as the database keeps them: an event that arrives
    // after the request that deletes it (from another process, late) is refused here too.
    private readonly HashSet<(Key32 Author, Key32 Id)> _deletedIds = [];
    private readonly Dictionary<(Key32, int, string), long> _deletedAddresses = [];
    private readonly Dictionary<Key32, long> _vanished = [];
    private long _bytes;

    /// Every stored event with created_at at or after this is held (long.MinValue: all of them,
    /// nothing was evicted yet).
    public long Horizon { get; private set; } = long.MinValue;
    public int Count => _byId.Count;
    public long Bytes => _bytes;

    /// An event the database stored (committed, OK true). Returns false if the tier does not
    /// hold it (older than the horizon, replaced, deleted, or already held).
    public bool Add(NostrEvent e) => Add(e, applyRequests: true);

    /// The held event with this id, if any.
    public NostrEvent? Find(Key32 id) => _byId.TryGetValue(id, out var h) ? h.Event : null;

    /// An event stored while the tier loaded: the load may have seen it already, and then also the
    /// effect of a request it makes (applied again, a request to vanish would remove gift wraps
    /// stored after it). One older than the horizon changes nothing held.
    public void Replay(NostrEvent e) => Add(e, applyRequests: !_byId.ContainsKey(e.IdKey));

    /// <paramref name="applyRequests"/>: false when loading what the database holds, where every
    /// request has already had its effect (applied again, a request to vanish would remove gift
    /// wraps addressed to its author that were stored after it, and that the database keeps).
    private bool Add(NostrEvent e, bool applyRequests)
    {
        if (applyRequests && e.Kind is Kinds.Deletion or Kinds.RequestToVanish) Apply(e);
        if (e.CreatedAt < Horizon || _byId.ContainsKey(e.IdKey) || Refused(e)) return false;
        var cls = e.Class;
        if (cls is KindClass.Ephemeral) return false;
        e = e.Slim(Share);
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : "");
            var held = new Held(e);
            if (_versions.TryGetValue(key, out var current))
            {
                if (NewestFirst.Instance.Compare(current, held) < 0) return false;   // the held one is newer
                Remove(current);
            }
            _versions[key] = held;
            Insert(held);
        }
        else Insert(new Held(e));
        Evict();
        return true;
    }

    /// Fills an empty tier from the database, in one snapshot: the deletion records first (so late
    /// arrivals are refused as the database refuses them), then stored events newest first, a
    /// page at a time, until the budget is full. Events stored meanwhile are the caller's to
    /// replay (HotTierKeeper).
    public async Task LoadAsync(NpgsqlDataSource db, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        async Task ReadAsync(string sql, Action<NpgsqlDataReader> row)
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) row(r);
        }
        await ReadAsync("SELECT event_id, pubkey FROM deleted_events", r =>
            _deletedIds.Add((Key32.FromBytes(r.GetFieldValue<byte[]>(1)), Key32.FromBytes(r.GetFieldValue<byte[]>(0)))));
        await ReadAsync("SELECT pubkey, kind, d_tag, until FROM deleted_addresses", r =>
            _deletedAddresses[(Key32.FromBytes(r.GetFieldValue<byte[]>(0)), r.GetInt32(1), System.Text.Encoding.UTF8.GetString(r.GetFieldValue<byte[]>(2)))] = r.GetInt64(3));
        await ReadAsync("SELECT pubkey, until FROM vanished", r => _vanished[Key32.FromBytes(r.GetFieldValue<byte[]>(0))] = r.GetInt64(1));
        // A cursor, so that stopping at the budget reads no further (a plain reader would drain the table).
        await using (var declare = new NpgsqlCommand("DECLARE tier_load NO SCROLL CURSOR FOR SELECT raw, created_at FROM events ORDER BY created_at DESC, id ASC", conn, tx))
            await declare.ExecuteNonQueryAsync(ct);
        var full = false;
        while (!full)
        {
            var rows = 0;
            await ReadAsync("FETCH 5000 FROM tier_load", r =>
            {
                rows++;
                if (full || r.GetInt64(1) < Horizon) { full = true; return; }   // everything further is older
                if (EventParser.FromStored(r.GetFieldValue<byte[]>(0)) is { } e) Add(e, applyRequests: false);
            });
            if (rows == 0) break;
        }
    }

    private string Share(string s)
    {
        if (_shared.TryGetValue(s, out var shared)) return shared;
        _shared[s] = s;
        return s;
    }

    private bool Refused(NostrEvent e)
    {
        if (e.Kind is not (Kinds.Deletion or Kinds.RequestToVanish) && _deletedIds.Contains((e.PubkeyKey, e.IdKey))) return true;
        if (e.Kind != Kinds.RequestToVanish && _vanished.TryGetValue(e.PubkeyKey, out var until) && e.CreatedAt <= until) return true;
        var cls = e.Class;
        return cls is KindClass.Replaceable or KindClass.Addressable
            && _deletedAddresses.TryGetValue((e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : ""), out var upTo) && e.CreatedAt <= upTo;
    }

    /// A kind 5 or 62: remove what it names and remember it, as the writer's statements do.
    private void Apply(NostrEvent request)
    {
        var author = request.PubkeyKey;
        if (request.Kind == Kinds.RequestToVanish)
        {
            if (!DeletionRequests.VanishesHere(request, relayUrl)) return;
            _vanished[author] = Math.Max(_vanished.GetValueOrDefault(author), request.CreatedAt);
            var gone = new List<Held>();
            if (_byAuthor.TryGetValue(author, out var own))
                gone.AddRange(own.Where(h => h.Event.Kind != Kinds.RequestToVanish && h.CreatedAt <= request.CreatedAt));
            // Gift wraps to the author go only if committed before the request or with it, as the
            // writer's statement removes them (loaded ones, CommitSeq 0, were: a request replayed
            // after a load was not in the load's snapshot, so the snapshot is older).
            if (_byTag.TryGetValue(('p', request.Pubkey), out var addressed))
                gone.AddRange(addressed.Where(h => h.Event.Kind == 1059 && h.CreatedAt <= request.CreatedAt
                                                    && (h.Event.CommitSeq == 0 || h.Event.CommitSeq <= request.CommitSeq)));
            foreach (var h in gone.Distinct()) Remove(h);
            return;
        }
        foreach (var id in DeletionRequests.EventIds(request))
        {
            var key = Key32.Parse(id);
            _deletedIds.Add((author, key));
            if (_byId.TryGetValue(key, out var h) && h.Event.PubkeyKey == author && h.Event.Kind is not (Kinds.Deletion or Kinds.RequestToVanish)) Remove(h);
        }
        foreach (var (kind, dTag) in DeletionRequests.Addresses(request))
        {
            var key = (author, kind, dTag);
            _deletedAddresses[key] = Math.Max(_deletedAddresses.GetValueOrDefault(key, long.MinValue), request.CreatedAt);
            if (_versions.TryGetValue(key, out var h) && h.CreatedAt <= request.CreatedAt) Remove(h);
        }
    }

    private void Insert(Held h)
    {
        var e = h.Event;
        _byId[h.Id] = h;
        Set(_byAuthor, e.PubkeyKey).Add(h);
        Set(_byKind, e.Kind).Add(h);
        foreach (var (name, value) in e.IndexedTags()) Set(_byTag, (name, value)).Add(h);
        _bytes += Cost(e);
    }

    private void Remove(Held h)
    {
        var e = h.Event;
        if (!_byId.Remove(h.Id)) return;
        Unset(_byAuthor, e.PubkeyKey, h);
        Unset(_byKind, e.Kind, h);
        foreach (var (name, value) in e.IndexedTags()) Unset(_byTag, (name, value), h);
        var cls = e.Class;
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : "");
            if (_versions.TryGetValue(key, out var v) && ReferenceEquals(v, h)) _versions.Remove(key);
        }
        _bytes -= Cost(e);
    }

    /// Over budget: the oldest second goes, whole, and the horizon moves past it (O(evicted)).
    private void Evict()
    {
        while (_bytes > budgetBytes && _byKind.Count > 0)
        {
            // The oldest second held is the oldest among the kinds' oldest (kinds are few).
            var oldest = long.MaxValue;
            foreach (var set in _byKind.Values) oldest = Math.Min(oldest, set.Max!.CreatedAt);
            foreach (var set in _byKind.Values.ToArray())
                while (set.Count > 0 && set.Max!.CreatedAt == oldest) Remove(set.Max!);
            Horizon = oldest + 1;
        }
    }

    // The raw JSON plus a rough share of the index entries (one node per index it sits in).
    private static long Cost(NostrEvent e) => e.Raw.Length + 64L * (4 + e.Tags.Length);

    private static SortedSet<Held> Set<TKey>(Dictionary<TKey, SortedSet<Held>> map, TKey key) where TKey : notnull
    {
        if (!map.TryGetValue(key, out var set)) map[key] = set = new SortedSet<Held>(NewestFirst.Instance);
        return set;
    }

    private static void Unset<TKey>(Dictionary<TKey, SortedSet<Held>> map, TKey key, Held h) where TKey : notnull
    {
        if (map.TryGetValue(key, out var set) && set.Remove(h) && set.Count == 0) map.Remove(key);
    }

    /// How much of a filter's answer the tier has.
    public enum Answer : byte
    {
        /// Not provably all there: PostgreSQL answers the filter (nothing was added).
        None,
        /// The whole answer, in NIP-01 order, with the limit.
        Complete,
        /// An ids filter whose limit cannot cut: the held matches were added, and the ids not
        /// held went to <c>missing</c>, for PostgreSQL (any it has are older than the horizon).
        Partial,
    }

    /// Appends the filter's answer from memory to <paramref name="into"/> (NIP-01 order, with its
    /// limit) when the tier provably has it all: the filter's since is at or after the horizon, or
    /// the limit is reached at or after it. Events not held are older than the horizon (or not
    /// stored), so an answer that fills its limit from memory is PostgreSQL's answer.
    public Answer Query(NostrFilter f, int maxLimit, long now, List<NostrEvent> into, List<string>? missing = null)
    {
        var limit = Math.Min(f.Limit ?? maxLimit, maxLimit);
        if (f.MatchesNothing || limit <= 0) return Answer.Complete;
        var start = into.Count;
        if (f.IdKeys is { } ids)
        {
            var held = t_held ??= [];
            held.Clear();
            var absent = 0;
            foreach (var id in ids)
                if (_byId.TryGetValue(id, out var h)) held.Add(h);
                else absent++;
            held.Sort(NewestFirst.Instance);
            foreach (var h in held)
                if (into.Count - start < limit && Visible(h.Event, f, now)) into.Add(h.Event);
            held.Clear();
            if (absent == 0 || into.Count - start == limit || (f.Since ?? long.MinValue) >= Horizon) return Answer.Complete;
            if (missing is not null && limit >= ids.Length)
            {
                foreach (var id in f.Ids!)
                    if (!_byId.ContainsKey(Key32.Parse(id))) missing.Add(id);
                return Answer.Partial;
            }
            into.RemoveRange(start, into.Count - start);
            return Answer.None;
        }
        var complete = (f.Since ?? long.MinValue) >= Horizon;
        if (!complete && f.Until < Horizon) return Answer.None;   // all of it is older than what is held
        foreach (var h in Candidates(f))
        {
            if (f.Since is { } since && h.CreatedAt < since) break;
            if (!Visible(h.Event, f, now)) continue;
            into.Add(h.Event);
            if (into.Count - start == limit) { complete = true; break; }
        }
        if (complete) return Answer.Complete;
        into.RemoveRange(start, into.Count - start);
        return Answer.None;
    }

    [ThreadStatic] private static List<Held>? t_held;

    private static bool Visible(NostrEvent e, NostrFilter f, long now) => f.Matches(e) && !(e.Expiration <= now);

    /// The held events that may match, newest first, from the most selective index the filter has.
    private IEnumerable<Held> Candidates(NostrFilter f)
    {
        if (f.AuthorKeys is { } authors)
            return authors.Length == 1 ? Own(_byAuthor, authors[0]) : Merge(authors.Select(a => _byAuthor.GetValueOrDefault(a)));
        if (f.Tags.Length > 0)
        {
            var (name, values) = f.Tags[0];
            return values.Length == 1 ? Own(_byTag, (name, values[0])) : Merge(values.Distinct().Select(v => _byTag.GetValueOrDefault((name, v))));
        }
        if (f.Kinds is { } kinds) return kinds.Length == 1 ? Own(_byKind, kinds[0]) : Merge(kinds.Distinct().Select(k => _byKind.GetValueOrDefault(k)));
        return Merge(_byKind.Values);   // no index narrows it: every kind, merged
    }

    private static IEnumerable<Held> Own<TKey>(Dictionary<TKey, SortedSet<Held>> map, TKey key) where TKey : notnull =>
        map.TryGetValue(key, out var set) ? set : [];

    /// Several newest-first sets as one newest-first sequence, each event once.
    private static IEnumerable<Held> Merge(IEnumerable<SortedSet<Held>?> sets)
    {
        var queue = new PriorityQueue<IEnumerator<Held>, Held>(NewestFirst.Instance);
        foreach (var set in sets)
        {
            if (set is null) continue;
            var it = set.GetEnumerator();
            if (it.MoveNext()) queue.Enqueue(it, it.Current);
        }
        Held? last = null;
        while (queue.TryDequeue(out var it, out var h))
        {
            if (!ReferenceEquals(h, last)) yield return h;
            last = h;
            if (it.MoveNext()) queue.Enqueue(it, it.Current);
        }
    }
}
