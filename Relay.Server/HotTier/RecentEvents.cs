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
    private readonly Dictionary<Key32, NostrEvent> _byId = [];
    private readonly Dictionary<Key32, TimeIndex> _byAuthor = [];
    private readonly Dictionary<(char, string), TimeIndex> _byTag = [];
    private readonly Dictionary<int, TimeIndex> _byKind = [];
    private readonly TimeIndex _all = new();   // every held event: eviction's oldest, and filters nothing narrows
    // Numbers each insert and removal: a tag index stamped with it has had the event already (a
    // tag may be repeated: `["p", x]` twice), without hashing the key a second time.
    private long _stamp;
    // One hex string per author, not one per event.
    private readonly Dictionary<Key32, string> _pubkeys = [];
    private readonly Dictionary<(Key32, int, string), NostrEvent> _versions = [];
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
    public NostrEvent? Find(Key32 id) => _byId.TryGetValue(id, out var h) ? h : null;

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
        e = e.Slim(SharedPubkey(e));
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : "");
            if (_versions.TryGetValue(key, out var current))
            {
                if (Nip01Order.NewestFirst(current, e) < 0) return false;   // the held one is newer
                Remove(current);
            }
            _versions[key] = e;
            Insert(e);
        }
        else Insert(e);
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

    private static readonly string[] Letters = [.. Enumerable.Range(0, 128).Select(c => ((char)c).ToString())];

    /// The author's hex string the tier already holds, forgotten wholesale past a million
    /// authors (sharing only saves memory).
    private string SharedPubkey(NostrEvent e)
    {
        if (_pubkeys.TryGetValue(e.PubkeyKey, out var shared)) return shared;
        if (_pubkeys.Count >= 1_000_000) _pubkeys.Clear();
        return _pubkeys[e.PubkeyKey] = e.Pubkey;
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
            var gone = new List<NostrEvent>();
            if (_byAuthor.TryGetValue(author, out var own))
                foreach (var h in own.Window)
                    if (!h.RemovedFromTier && h.Kind != Kinds.RequestToVanish && h.CreatedAt <= request.CreatedAt) gone.Add(h);
            // Gift wraps to the author go only if committed before the request or with it, as the
            // writer's statement removes them (loaded ones, CommitSeq 0, were: a request replayed
            // after a load was not in the load's snapshot, so the snapshot is older).
            if (_byTag.TryGetValue(('p', request.Pubkey), out var addressed))
                foreach (var h in addressed.Window)
                    if (!h.RemovedFromTier && h.Kind == 1059 && h.CreatedAt <= request.CreatedAt
                        && (h.CommitSeq == 0 || h.CommitSeq <= request.CommitSeq)) gone.Add(h);
            foreach (var h in gone.Distinct()) Remove(h);
            return;
        }
        foreach (var id in DeletionRequests.EventIds(request))
        {
            var key = Key32.Parse(id);
            _deletedIds.Add((author, key));
            if (_byId.TryGetValue(key, out var h) && h.PubkeyKey == author && h.Kind is not (Kinds.Deletion or Kinds.RequestToVanish)) Remove(h);
        }
        foreach (var (kind, dTag) in DeletionRequests.Addresses(request))
        {
            var key = (author, kind, dTag);
            _deletedAddresses[key] = Math.Max(_deletedAddresses.GetValueOrDefault(key, long.MinValue), request.CreatedAt);
            if (_versions.TryGetValue(key, out var h) && h.CreatedAt <= request.CreatedAt) Remove(h);
        }
    }

    private void Insert(NostrEvent e)
    {
        _byId[e.IdKey] = e;
        Index(_byAuthor, e.PubkeyKey).Add(e);
        Index(_byKind, e.Kind).Add(e);
        IndexTags(e);
        _all.Add(e);
        _bytes += Cost(e);
    }

    /// Indexes the event by its tag values (each once: a tag may be repeated), and holds equal
    /// tags once: a two-element tag becomes the array its index already holds (a contact list's
    /// hundreds of `["p", x]`, the same hashtags), a longer one shares the value string. Fewer
    /// objects per held event is less for every full collection to trace (equal contents, so
    /// whoever else holds these tags sees no difference).
    private void IndexTags(NostrEvent e)
    {
        var stamp = ++_stamp;
        var tags = e.Tags;
        for (var i = 0; i < tags.Length; i++)
        {
            var t = tags[i];
            if (!NostrEvent.IsIndexed(t)) continue;
            var key = (t[0][0], t[1]);
            if (!_byTag.TryGetValue(key, out var index)) _byTag[key] = index = new TimeIndex { Value = t[1] };
            if (t.Length == 2)
            {
                if (index.Pair is { } pair) tags[i] = pair;
                else index.Pair = t;
            }
            else
            {
                t[0] = Letters[t[0][0]];
                t[1] = index.Value!;
            }
            if (index.Stamp == stamp) continue;
            index.Stamp = stamp;
            index.Add(e);
        }
    }

    private void Remove(NostrEvent e)
    {
        if (!_byId.Remove(e.IdKey)) return;
        e.RemovedFromTier = true;
        Unindex(_byAuthor, e.PubkeyKey);
        Unindex(_byKind, e.Kind);
        var stamp = ++_stamp;
        foreach (var t in e.Tags)
        {
            if (!NostrEvent.IsIndexed(t)) continue;
            var key = (t[0][0], t[1]);
            if (!_byTag.TryGetValue(key, out var index) || index.Stamp == stamp) continue;
            index.Stamp = stamp;
            Unindex(_byTag, key, index);
        }
        _all.Removed();
        var cls = e.Class;
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : "");
            if (_versions.TryGetValue(key, out var v) && ReferenceEquals(v, e)) _versions.Remove(key);
        }
        _bytes -= Cost(e);
    }

    /// Over budget: the oldest second goes, whole, and the horizon moves past it (O(evicted)).
    private void Evict()
    {
        while (_bytes > budgetBytes && _all.Live > 0)
        {
            var oldest = _all.Oldest!.CreatedAt;
            while (_all.Oldest is { } h && h.CreatedAt == oldest) Remove(h);
            Horizon = oldest + 1;
        }
    }

    // What holding it costs the heap: the raw JSON, the event's fields and tags, and its index
    // entries; calibrated with `Relay.Bench tier-memory` (the load test's 100,000 events: 1,562
    // bytes measured per event held, this says about the same), so HOT_TIER_MB is what it takes.
    private static long Cost(NostrEvent e) => e.Raw.Length + 580L + 64L * e.Tags.Length;

    private static TimeIndex Index<TKey>(Dictionary<TKey, TimeIndex> map, TKey key) where TKey : notnull
    {
        if (!map.TryGetValue(key, out var index)) map[key] = index = new TimeIndex();
        return index;
    }

    private static void Unindex<TKey>(Dictionary<TKey, TimeIndex> map, TKey key) where TKey : notnull
    {
        if (map.TryGetValue(key, out var index)) Unindex(map, key, index);
    }

    private static void Unindex<TKey>(Dictionary<TKey, TimeIndex> map, TKey key, TimeIndex index) where TKey : notnull
    {
        index.Removed();
        if (index.Live == 0) map.Remove(key);
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
            held.Sort(Nip01Order.NewestFirst);
            foreach (var h in held)
                if (into.Count - start < limit && Visible(h, f, now)) into.Add(h);
            held.Clear();
            if (absent == 0 || into.Count - start == limit || (f.Since ?? long.MinValue) >= Horizon) return Answer.Complete;
            if (missing is not null && limit >= ids.Length)
            {
                foreach (var id in ids)
                    if (!_byId.ContainsKey(id)) missing.Add(id.ToHex());
                return Answer.Partial;
            }
            into.RemoveRange(start, into.Count - start);
            return Answer.None;
        }
        var complete = (f.Since ?? long.MinValue) >= Horizon;
        if (!complete && f.Until < Horizon) return Answer.None;   // all of it is older than what is held
        var lists = t_lists ??= [];
        lists.Clear();
        Candidates(f, lists);
        var since = f.Since ?? long.MinValue;
        if (lists.Count == 1)
        {
            // One index (an author, a tag value, a kind): newest first is the window backwards.
            var window = lists[0].Window;
            for (var i = window.Length - 1; i >= 0; i--)
            {
                var h = window[i];
                if (h.CreatedAt < since) break;
                if (h.RemovedFromTier || !Visible(h, f, now)) continue;
                into.Add(h);
                if (into.Count - start == limit) { complete = true; break; }
            }
        }
        else if (lists.Count > 1) complete |= MergeInto(lists, f, since, limit, now, into, start);
        lists.Clear();
        if (complete) return Answer.Complete;
        into.RemoveRange(start, into.Count - start);
        return Answer.None;
    }

    [ThreadStatic] private static List<NostrEvent>? t_held;

    private static bool Visible(NostrEvent e, NostrFilter f, long now) => f.Matches(e) && !(e.Expiration <= now);

    [ThreadStatic] private static List<TimeIndex>? t_lists;
    [ThreadStatic] private static PriorityQueue<int, NostrEvent>? t_heads;
    [ThreadStatic] private static int[]? t_positions;
    private static readonly Comparer<NostrEvent> NewestFirstComparer = Comparer<NostrEvent>.Create(Nip01Order.NewestFirst);

    /// The indexes whose events may match, from the most selective the filter has.
    private void Candidates(NostrFilter f, List<TimeIndex> into)
    {
        if (f.AuthorKeys is { } authors)
        {
            foreach (var a in authors) if (_byAuthor.TryGetValue(a, out var index)) into.Add(index);
            return;
        }
        if (f.Tags.Length > 0)
        {
            var (name, values) = f.Tags[0];
            foreach (var v in values)
                if (_byTag.TryGetValue((name, v), out var index) && !into.Contains(index)) into.Add(index);
            return;
        }
        if (f.Kinds is { } kinds)
        {
            foreach (var k in kinds)
                if (_byKind.TryGetValue(k, out var index) && !into.Contains(index)) into.Add(index);
            return;
        }
        into.Add(_all);   // nothing narrows it
    }

    /// Several indexes merged newest first (an event in two of them, by two tag values, once);
    /// true once the limit is reached.
    private static bool MergeInto(List<TimeIndex> lists, NostrFilter f, long since, int limit, long now, List<NostrEvent> into, int start)
    {
        var heads = t_heads ??= new PriorityQueue<int, NostrEvent>(NewestFirstComparer);
        heads.Clear();
        if (t_positions is null || t_positions.Length < lists.Count) t_positions = new int[Math.Max(16, lists.Count)];
        var positions = t_positions;
        for (var k = 0; k < lists.Count; k++)
        {
            positions[k] = lists[k].Window.Length - 1;
            if (positions[k] >= 0) heads.Enqueue(k, lists[k].Window[positions[k]]);
        }
        NostrEvent? last = null;
        var full = false;
        while (heads.TryDequeue(out var k, out var h))
        {
            if (h.CreatedAt < since) break;
            if (--positions[k] >= 0) heads.Enqueue(k, lists[k].Window[positions[k]]);
            if (ReferenceEquals(h, last) || h.RemovedFromTier) continue;
            last = h;
            if (!Visible(h, f, now)) continue;
            into.Add(h);
            if (into.Count - start == limit) { full = true; break; }
        }
        heads.Clear();
        return full;
    }
}
