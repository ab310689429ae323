using Relay.Server.HotTier;
using Relay.Server.Subscriptions;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Req;

/// Receives one stored event's JSON (valid only during the call) and its kind (the tier has it;
/// PostgreSQL's rows that stream straight through read it from the JSON's fixed layout).
internal delegate void RawSink(ReadOnlySpan<byte> raw, int kind);

/// Where a REQ's stored events come from: the hot tier answers each filter whose whole answer it
/// provably holds, PostgreSQL (a replica or the primary, see ReadDatabases) the others, and a REQ
/// may mix both. The answer is the same either way: the union of the filters' answers (each with
/// its limit), newest first (ties: lowest id), each event once. A query slot is taken only when
/// PostgreSQL is asked. The returned fence says what the answer saw, for the live hand-over.
internal sealed class StoredEvents(HotTierKeeper? tier, ReadDatabases db, QuerySlots slots, int maxLimit)
{
    /// The few queries PostgreSQL runs at once (COUNT takes them too).
    public QuerySlots Slots => slots;

    /// <paramref name="acceptReplica"/>: whether a replica whose snapshot saw this commit position will do.
    public async Task<(int Rows, StoredFence Fence, bool AskedDatabase)> AnswerAsync(NostrFilter[] filters, long now, RawSink sink,
        Func<long, bool> acceptReplica, CancellationToken ct)
    {
        var memory = tier is { Enabled: true } ? FromMemory(filters, now) : null;
        if (memory is null)
        {
            // All of it from PostgreSQL, streamed as it comes.
            using (await slots.EnterAsync(IsHeavy(filters), ct))
            {
                var answer = await db.QueryAsync(filters, maxLimit, now, raw => { sink(raw.Span, StoredJson.Kind(raw.Span)); return ValueTask.CompletedTask; }, acceptReplica, ct);
                return (answer.Rows, new StoredFence(answer.Position, 0, null), true);
            }
        }
        var events = memory.Events;
        try
        {
            long position = 0;
            if (memory.Database is { } rest)
            {
                // Mixed: PostgreSQL's part joins the tier's, in order.
                var rows = new List<HeldEvent>();
                using (await slots.EnterAsync(IsHeavy(rest), ct))
                {
                    var answer = await db.QueryAsync(rest, maxLimit, now, raw =>
                    {
                        if (EventParser.FromStored(raw.Span) is { } e) rows.Add(HeldEvent.Of(e));
                        return ValueTask.CompletedTask;
                    }, acceptReplica, ct);
                    position = answer.Position;
                }
                events.AddRange(rows);
            }
            if (filters.Length > 1 || memory.Database is not null) SortUnique(events);
            foreach (var e in events) sink(e.Raw.Span, e.Kind);   // the list keeps the tier's bytes alive meanwhile (EventArena)
            var sent = memory.Database is null ? null : events.Select(e => e.IdKey).ToHashSet();
            return (events.Count, new StoredFence(position, memory.Position, memory.Sources, sent), memory.Database is not null);
        }
        finally
        {
            AnswerLists.Return(events);
        }
    }

    private sealed class FromTier(List<HeldEvent> events, NostrFilter[]? database, long position, byte[] sources)
    {
        public List<HeldEvent> Events => events;
        public NostrFilter[]? Database => database;   // what PostgreSQL must answer (null: nothing)
        public long Position => position;
        public byte[] Sources => sources;
    }

    /// What the tier answers; null when it answers none of the filters (or is not ready).
    private FromTier? FromMemory(NostrFilter[] filters, long now)
    {
        var answers = new RecentEvents.Answer[filters.Length];
        var events = AnswerLists.Rent();
        var missing = new List<string>();
        var missingEnds = new int[filters.Length];
        if (!tier!.TryQuery(filters, maxLimit, now, answers, events, missing, missingEnds, out var position))
        {
            AnswerLists.Return(events);
            return null;
        }
        var sources = new byte[filters.Length];
        List<NostrFilter>? database = null;
        for (var i = 0; i < filters.Length; i++)
        {
            var f = filters[i];
            switch (answers[i])
            {
                case RecentEvents.Answer.Complete:
                    sources[i] = StoredFence.FromTier;
                    break;
                case RecentEvents.Answer.Partial:
                    // The ids not held: any PostgreSQL has are older than the horizon.
                    sources[i] = StoredFence.FromTier | StoredFence.FromDatabase;
                    var from = i == 0 ? 0 : missingEnds[i - 1];
                    (database ??= []).Add(new NostrFilter
                    {
                        Ids = missing.GetRange(from, missingEnds[i] - from).ToArray(),
                        Authors = f.Authors, Kinds = f.Kinds, Tags = f.Tags, Since = f.Since, Until = f.Until, Limit = f.Limit,
                    });
                    break;
                default:
                    sources[i] = StoredFence.FromDatabase;
                    (database ??= []).Add(f);
                    break;
            }
        }
        if (Array.TrueForAll(answers, a => a == RecentEvents.Answer.None))
        {
            AnswerLists.Return(events);
            return null;
        }
        return new FromTier(events, database?.ToArray(), position, sources);
    }

    /// Several filters' answers as one: newest first, each event once.
    private static void SortUnique(List<HeldEvent> events)
    {
        if (events.Count < 2) return;
        events.Sort(Nip01Order.NewestFirst);
        var kept = 1;
        for (var i = 1; i < events.Count; i++)
            if (events[i].IdKey != events[kept - 1].IdKey) events[kept++] = events[i];
        events.RemoveRange(kept, events.Count - kept);
    }

    /// Asks for more than one filter's worth of events in all (see QuerySlots).
    public bool IsHeavy(IReadOnlyList<NostrFilter> filters)
    {
        long asked = 0;
        foreach (var f in filters) asked += f.Ids is { } ids ? Math.Min(ids.Length, maxLimit) : Math.Min(f.Limit ?? maxLimit, maxLimit);
        return asked > maxLimit;
    }

    /// Answer lists used again: an answer of a few hundred events is tens of KB of list, at
    /// thousands of REQs a second. At most 64 kept, of up to 1,024 entries (64 KB) each.
    private static class AnswerLists
    {
        private static readonly System.Collections.Concurrent.ConcurrentQueue<List<HeldEvent>> Free = new();
        private static int _count;

        public static List<HeldEvent> Rent()
        {
            if (!Free.TryDequeue(out var list)) return new List<HeldEvent>(64);
            Interlocked.Decrement(ref _count);
            return list;
        }

        public static void Return(List<HeldEvent> list)
        {
            list.Clear();   // drops the references to the tier's memory
            if (list.Capacity > 1024) return;   // a rare huge answer (several filters' limits): not kept
            if (Interlocked.Increment(ref _count) > 64)
            {
                Interlocked.Decrement(ref _count);
                return;
            }
            Free.Enqueue(list);
        }
    }
}
