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
///
/// Held events are not objects: each is a slot (plain fields) in one table, its raw JSON and tag
/// numbers a record in the arena's native chunks, and index entries are (created_at, slot,
/// generation) values. A full collection marks a few objects per index key, not several per
/// event, which is what ingest paid for holding events (every held event survived two
/// collections and was traced again by each full one).
/// Not thread-safe: the caller serialises writes (one lock; the bus loop feeds it); queries may
/// run at once with each other.
/// <paramref name="chunkBytes"/>: the arena's chunk size (tests make it small, so that chunks fill,
/// empty and are compacted).
internal sealed class RecentEvents(long budgetBytes, string? relayUrl = null, int chunkBytes = EventArena.DefaultChunkBytes) : IArenaSlots
{
    private HeldSlot[] _slots = new HeldSlot[64];
    private int _slotCount;
    private readonly Stack<int> _freeSlots = new();
    private readonly EventArena _arena = new(chunkBytes);
    private readonly Dictionary<Key32, int> _byId = [];
    private readonly Dictionary<Key32, TimeIndex> _byAuthor = [];
    private readonly Dictionary<(char, string), TimeIndex> _byTag = [];
    private readonly Dictionary<int, TimeIndex> _byKind = [];
    private readonly TimeIndex _all = new();   // every held event: eviction's oldest, and filters nothing narrows
    // Author and tag indexes by number (1 on; 0: none): a slot names its author's, a record its tags'.
    private TimeIndex?[] _indexes = new TimeIndex?[64];
    private int _indexCount = 1;
    private readonly Stack<int> _freeIndexes = new();
    // Numbers each insert: a tag index stamped with it has had the event already (a tag may be
    // repeated: `["p", x]` twice), without hashing the key a second time.
    private long _stamp;
    private int[] _tagIds = new int[16];   // the insert's tag index numbers (writes are serialised)
    private readonly Dictionary<(Key32, int, string), int> _versions = [];
    private readonly Dictionary<int, string> _dTags = [];   // an addressable event's d tag, by slot
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
    /// Bytes of the arena's arrays (held records, and records not yet compacted away).
    public long ArenaBytes => _arena.Allocated;
    public int ArenaCompactions => _arena.Compactions;

    /// An event the database stored (committed, OK true). Returns false if the tier does not
    /// hold it (older than the horizon, replaced, deleted, or already held).
    public bool Add(NostrEvent e) => Add(e, applyRequests: true);

    public bool Holds(Key32 id) => _byId.ContainsKey(id);

    /// The TierSeq the held event with this id was taken with (0: loaded), or null if not held.
    public long? TierSeqOf(Key32 id) => _byId.TryGetValue(id, out var s) ? _slots[s].TierSeq : null;

    /// Whether the database has stored this event, as far as memory proves it: the commit
    /// position that stored it if held (0 for a loaded one: not known here), -1 if it provably
    /// is not stored (at or after the horizon, not held: every stored event there is), 0 if
    /// memory cannot say (older than the horizon).
    public long StoredAt(NostrEvent e)
    {
        if (_byId.TryGetValue(e.IdKey, out var s)) return _slots[s].CommitSeq;
        return e.CreatedAt >= Horizon ? -1 : 0;
    }

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
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (e.PubkeyKey, e.Kind, cls == KindClass.Addressable ? e.DTag : "");
            if (_versions.TryGetValue(key, out var current))
            {
                if (Nip01Order.NewestFirst(_slots[current].CreatedAt, _slots[current].Id, e.CreatedAt, e.IdKey) < 0) return false;   // the held one is newer
                Remove(current);
            }
            var slot = Insert(e);
            _versions[key] = slot;
            if (cls == KindClass.Addressable) _dTags[slot] = key.Item3;
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
            var gone = new List<int>();
            if (_byAuthor.TryGetValue(author, out var own))
                foreach (var x in own.Window)
                    if (TimeIndex.IsLive(x, _slots) && _slots[x.Slot].Kind != Kinds.RequestToVanish && x.CreatedAt <= request.CreatedAt) gone.Add(x.Slot);
            // Gift wraps to the author go only if committed before the request or with it, as the
            // writer's statement removes them (loaded ones, CommitSeq 0, were: a request replayed
            // after a load was not in the load's snapshot, so the snapshot is older).
            if (_byTag.TryGetValue(('p', request.Pubkey), out var addressed))
                foreach (var x in addressed.Window)
                {
                    if (!TimeIndex.IsLive(x, _slots)) continue;
                    ref readonly var h = ref _slots[x.Slot];
                    if (h.Kind == 1059 && h.CreatedAt <= request.CreatedAt && (h.CommitSeq == 0 || h.CommitSeq <= request.CommitSeq)) gone.Add(x.Slot);
                }
            foreach (var s in gone.Distinct()) Remove(s);
            return;
        }
        foreach (var id in DeletionRequests.EventIds(request))
        {
            var key = Key32.Parse(id);
            _deletedIds.Add((author, key));
            if (_byId.TryGetValue(key, out var s) && AuthorOf(s) == author && _slots[s].Kind is not (Kinds.Deletion or Kinds.RequestToVanish)) Remove(s);
        }
        foreach (var (kind, dTag) in DeletionRequests.Addresses(request))
        {
            var key = (author, kind, dTag);
            _deletedAddresses[key] = Math.Max(_deletedAddresses.GetValueOrDefault(key, long.MinValue), request.CreatedAt);
            if (_versions.TryGetValue(key, out var s) && _slots[s].CreatedAt <= request.CreatedAt) Remove(s);
        }
    }

    private Key32 AuthorOf(int slot) => _indexes[_slots[slot].Author]!.Author;

    private int Insert(NostrEvent e)
    {
        if (!_freeSlots.TryPop(out var slot))
        {
            slot = _slotCount++;
            if (slot == _slots.Length) Array.Resize(ref _slots, slot * 2);
        }
        var gen = _slots[slot].Gen;
        var entry = new Entry(e.CreatedAt, slot, gen);
        if (!_byAuthor.TryGetValue(e.PubkeyKey, out var author))
        {
            _byAuthor[e.PubkeyKey] = author = Numbered(new TimeIndex { Author = e.PubkeyKey });
        }
        author.Add(entry, _slots);
        if (!_byKind.TryGetValue(e.Kind, out var kind)) _byKind[e.Kind] = kind = new TimeIndex { Kind = e.Kind };
        kind.Add(entry, _slots);
        var tagCount = IndexTags(e, entry);
        _all.Add(entry, _slots);
        var (chunk, offset) = _arena.Append(slot, gen, e.Raw, _tagIds.AsSpan(0, tagCount));
        ref var h = ref _slots[slot];
        h.Id = e.IdKey;
        h.CreatedAt = e.CreatedAt;
        h.Expiration = e.Expiration ?? long.MaxValue;
        h.CommitSeq = e.CommitSeq;
        h.TierSeq = e.TierSeq;
        h.Kind = e.Kind;
        h.Author = author.Id;
        h.Chunk = chunk;
        h.Offset = offset;
        h.RawLength = e.Raw.Length;
        _byId[e.IdKey] = slot;
        _bytes += Cost(e.Raw.Length, tagCount);
        return slot;
    }

    /// Adds the event to the index of each of its tag values (each once: a tag may be repeated),
    /// and leaves their numbers in _tagIds; returns how many.
    private int IndexTags(NostrEvent e, Entry entry)
    {
        var stamp = ++_stamp;
        var count = 0;
        foreach (var t in e.Tags)
        {
            if (!NostrEvent.IsIndexed(t)) continue;
            var key = (t[0][0], t[1]);
            if (!_byTag.TryGetValue(key, out var index)) _byTag[key] = index = Numbered(new TimeIndex { Name = key.Item1, Value = key.Item2 });
            if (index.Stamp == stamp) continue;
            index.Stamp = stamp;
            index.Add(entry, _slots);
            if (count == _tagIds.Length) Array.Resize(ref _tagIds, count * 2);
            _tagIds[count++] = index.Id;
        }
        return count;
    }

    private TimeIndex Numbered(TimeIndex index)
    {
        if (!_freeIndexes.TryPop(out var id))
        {
            id = _indexCount++;
            if (id == _indexes.Length) Array.Resize(ref _indexes, id * 2);
        }
        index.Id = id;
        return _indexes[id] = index;
    }

    private void Remove(int slot)
    {
        ref var h = ref _slots[slot];
        if (!_byId.Remove(h.Id)) return;
        h.Gen++;   // its index entries are dead from here on
        var slots = _slots;
        var author = _indexes[h.Author]!;
        Unindex(_byAuthor, author.Author, author, slots);
        Unindex(_byKind, h.Kind, _byKind[h.Kind], slots);
        var tags = _arena.Tags(h.Chunk, h.Offset);
        for (var i = 0; i < tags.Count; i++)
        {
            var index = _indexes[tags[i]]!;
            Unindex(_byTag, (index.Name, index.Value!), index, slots);
        }
        _all.Removed(slots);
        var cls = Kinds.Classify(h.Kind);
        if (cls is KindClass.Replaceable or KindClass.Addressable)
        {
            var key = (author.Author, h.Kind, cls == KindClass.Addressable ? _dTags[slot] : "");
            if (_versions.TryGetValue(key, out var v) && v == slot) _versions.Remove(key);
            _dTags.Remove(slot);
        }
        _bytes -= Cost(h.RawLength, tags.Count);
        if (_arena.Release(h.Chunk, h.Offset)) _arena.Compact(h.Chunk, this);
        _freeSlots.Push(slot);
    }

    bool IArenaSlots.IsAt(int slot, int gen, int chunk, int offset) =>
        _slots[slot].Gen == gen && _slots[slot].Chunk == chunk && _slots[slot].Offset == offset;

    void IArenaSlots.Moved(int slot, int chunk, int offset)
    {
        _slots[slot].Chunk = chunk;
        _slots[slot].Offset = offset;
    }

    /// Over budget: the oldest second goes, whole, and the horizon moves past it (O(evicted)).
    private void Evict()
    {
        while (_bytes > budgetBytes && _all.Live > 0)
        {
            var oldest = _all.Oldest.CreatedAt;
            while (_all.Live > 0 && _all.Oldest.CreatedAt == oldest) Remove(_all.Oldest.Slot);
            Horizon = oldest + 1;
        }
    }

    // What holding it costs: the record (raw JSON, tag numbers), the slot, the id's dictionary
    // entry, an index entry per index (author, kind, all, each tag value) with the arrays' growth,
    // and its share of the index keys; calibrated with `Relay.Bench tier-memory` (the load test's
    // events: 1,505 bytes measured per event held, this says about the same), so HOT_TIER_MB is
    // what it takes.
    private static long Cost(int rawLength, int tagCount) => EventArena.RecordBytes(rawLength, tagCount) + 600L + 26L * tagCount;

    private void Unindex<TKey>(Dictionary<TKey, TimeIndex> map, TKey key, TimeIndex index, HeldSlot[] slots) where TKey : notnull
    {
        index.Removed(slots);
        if (index.Live > 0) return;
        map.Remove(key);
        if (index.Id == 0) return;
        _indexes[index.Id] = null;
        _freeIndexes.Push(index.Id);
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
    public Answer Query(NostrFilter f, int maxLimit, long now, List<HeldEvent> into, List<string>? missing = null)
    {
        var limit = Math.Min(f.Limit ?? maxLimit, maxLimit);
        if (f.MatchesNothing || limit <= 0) return Answer.Complete;
        var start = into.Count;
        var match = Prepare(f);
        if (f.IdKeys is { } ids)
        {
            var held = t_group ??= [];
            held.Clear();
            var absent = 0;
            foreach (var id in ids)
                if (_byId.TryGetValue(id, out var s)) held.Add(s);
                else absent++;
            held.Sort(_newestFirst ??= NewestFirstSlots);
            foreach (var s in held)
                if (into.Count - start < limit && Visible(s, f, match, now, fromCandidates: false)) into.Add(Held(s));
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
        if (match.Impossible) return complete ? Answer.Complete : Answer.None;   // names an author or tag value not held
        var lists = t_lists ??= [];
        lists.Clear();
        Candidates(f, lists);
        if (lists.Count > 0) complete |= Collect(lists, f, match, f.Since ?? long.MinValue, limit, now, into, start);
        lists.Clear();
        if (complete) return Answer.Complete;
        into.RemoveRange(start, into.Count - start);
        return Answer.None;
    }

    private HeldEvent Held(int slot)
    {
        ref readonly var h = ref _slots[slot];
        return new HeldEvent(h.CreatedAt, h.Id, _arena.Raw(h.Chunk, h.Offset, h.RawLength), h.Kind);
    }

    /// A filter's authors and tag values as the numbers of the indexes that hold them.
    private readonly ref struct Match(bool impossible, ReadOnlySpan<int> authors, ReadOnlySpan<int> tagIds, ReadOnlySpan<int> tagEnds)
    {
        public readonly bool Impossible = impossible;
        public readonly ReadOnlySpan<int> Authors = authors, TagIds = tagIds, TagEnds = tagEnds;
    }

    [ThreadStatic] private static List<int>? t_authors, t_tagIds, t_tagEnds;

    private Match Prepare(NostrFilter f)
    {
        var authors = t_authors ??= [];
        var tagIds = t_tagIds ??= [];
        var tagEnds = t_tagEnds ??= [];
        authors.Clear();
        tagIds.Clear();
        tagEnds.Clear();
        var impossible = false;
        if (f.AuthorKeys is { } keys)
        {
            foreach (var a in keys)
                if (_byAuthor.TryGetValue(a, out var index)) authors.Add(index.Id);
            impossible = authors.Count == 0;
        }
        foreach (var (name, values) in f.Tags)
        {
            var before = tagIds.Count;
            foreach (var v in values)
                if (_byTag.TryGetValue((name, v), out var index)) tagIds.Add(index.Id);
            impossible |= tagIds.Count == before;
            tagEnds.Add(tagIds.Count);
        }
        return new Match(impossible, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(authors),
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tagIds), System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tagEnds));
    }

    /// <paramref name="fromCandidates"/>: the slot came from the indexes Candidates chose, so it
    /// meets the condition that chose them (its author, or the first tag's values): not checked
    /// again (a tag check reads the event's record, a cache miss).
    private bool Visible(int slot, NostrFilter f, in Match match, long now, bool fromCandidates)
    {
        ref readonly var h = ref _slots[slot];
        if (h.Expiration <= now) return false;
        if (f.Kinds is { } kinds && Array.IndexOf(kinds, h.Kind) < 0) return false;
        if (h.CreatedAt < f.Since || h.CreatedAt > f.Until) return false;
        if (f.AuthorKeys is not null && !match.Authors.Contains(h.Author)) return false;
        if (f.IdKeys is { } ids && Array.IndexOf(ids, h.Id) < 0) return false;
        var first = fromCandidates && f.AuthorKeys is null && match.TagEnds.Length > 0 ? 1 : 0;   // Candidates took the first tag's indexes
        if (match.TagEnds.Length == first) return true;
        var tags = _arena.Tags(h.Chunk, h.Offset);
        var from = first == 0 ? 0 : match.TagEnds[0];
        foreach (var end in match.TagEnds[first..])
        {
            var found = false;
            for (var i = 0; i < tags.Count && !found; i++) found = match.TagIds[from..end].Contains(tags[i]);
            if (!found) return false;
            from = end;
        }
        return true;
    }

    [ThreadStatic] private static List<TimeIndex>? t_lists;
    [ThreadStatic] private static List<int>? t_group;
    [ThreadStatic] private static PriorityQueue<int, long>? t_heads;
    [ThreadStatic] private static int[]? t_positions;
    private static readonly Comparer<long> Newest = Comparer<long>.Create((x, y) => y.CompareTo(x));
    // Slots in NIP-01 order (a delegate made once: sorting with an IComparer allocates one per sort).
    private Comparison<int>? _newestFirst;

    private int NewestFirstSlots(int x, int y)
    {
        ref readonly var a = ref _slots[x];
        ref readonly var b = ref _slots[y];
        return Nip01Order.NewestFirst(a.CreatedAt, a.Id, b.CreatedAt, b.Id);
    }

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

    /// The indexes' events, newest first, a second at a time (an index orders one second's
    /// entries by nothing, and an event may be in two of the indexes: each second's are sorted by
    /// id and each event taken once); true once the limit is reached.
    private bool Collect(List<TimeIndex> lists, NostrFilter f, in Match match, long since, int limit, long now, List<HeldEvent> into, int start)
    {
        if (lists.Count == 1) return CollectOne(lists[0].Window, f, match, since, limit, now, into, start);

        var heads = t_heads ??= new PriorityQueue<int, long>(Newest);
        heads.Clear();
        if (t_positions is null || t_positions.Length < lists.Count) t_positions = new int[Math.Max(16, lists.Count)];
        var positions = t_positions;
        for (var k = 0; k < lists.Count; k++)
        {
            var window = lists[k].Window;
            positions[k] = window.Length - 1;
            if (positions[k] >= 0) heads.Enqueue(k, window[positions[k]].CreatedAt);
        }
        var group = t_group ??= [];
        var full = false;
        var slots = _slots;
        while (!full && heads.TryPeek(out _, out var at) && at >= since)
        {
            group.Clear();
            while (heads.TryPeek(out var k, out var next) && next == at)
            {
                heads.Dequeue();
                var window = lists[k].Window;
                var i = positions[k];
                for (; i >= 0 && window[i].CreatedAt == at; i--)
                    if (TimeIndex.IsLive(window[i], slots)) group.Add(window[i].Slot);
                positions[k] = i;
                if (i >= 0) heads.Enqueue(k, window[i].CreatedAt);
            }
            if (group.Count > 1) group.Sort(_newestFirst ??= NewestFirstSlots);
            for (var g = 0; g < group.Count; g++)
            {
                if (g > 0 && group[g] == group[g - 1]) continue;   // in two of the indexes
                if (!Visible(group[g], f, match, now, fromCandidates: true)) continue;
                into.Add(Held(group[g]));
                if (into.Count - start == limit) { full = true; break; }
            }
        }
        heads.Clear();
        group.Clear();
        return full;
    }

    /// One index (an author, a tag value, a kind): the window backwards; a second with more than
    /// one event (rare but for bursts) sorted by id first.
    private bool CollectOne(ReadOnlySpan<Entry> window, NostrFilter f, in Match match, long since, int limit, long now, List<HeldEvent> into, int start)
    {
        var slots = _slots;
        for (var i = window.Length - 1; i >= 0;)
        {
            var at = window[i].CreatedAt;
            if (at < since) break;
            if (i == 0 || window[i - 1].CreatedAt != at)
            {
                var x = window[i--];
                if (!TimeIndex.IsLive(x, slots) || !Visible(x.Slot, f, match, now, fromCandidates: true)) continue;
                into.Add(Held(x.Slot));
                if (into.Count - start == limit) return true;
                continue;
            }
            var group = t_group ??= [];
            group.Clear();
            for (; i >= 0 && window[i].CreatedAt == at; i--)
                if (TimeIndex.IsLive(window[i], slots)) group.Add(window[i].Slot);
            group.Sort(_newestFirst ??= NewestFirstSlots);
            foreach (var s in group)
            {
                if (!Visible(s, f, match, now, fromCandidates: true)) continue;
                into.Add(Held(s));
                if (into.Count - start == limit) { group.Clear(); return true; }
            }
            group.Clear();
        }
        return false;
    }
}
