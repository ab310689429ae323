using Relay.Server.HotTier;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// `Relay.Bench.dll tier-memory events.jsonl`: what the hot tier holds per event, measured (the
/// managed heap after a full collection, before and after filling a tier with the file's events,
/// plus the native memory of its arena), against the events' raw JSON. Each event is parsed and
/// handed to the tier at once, so nothing but the tier keeps it.
public static class TierMemory
{
    public static void Run(string path)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var tier = new RecentEvents(long.MaxValue);
        var added = new Dictionary<Key32, int>();
        foreach (var line in File.ReadLines(path))
        {
            if (EventParser.TryParse(System.Text.Encoding.UTF8.GetBytes(line), out _) is not { } e) continue;
            e.CommitSeq = 1;
            if (tier.Add(e)) added[e.IdKey] = e.Raw.Length;
        }
        // The raw JSON of the events held at the end (replaced versions are not: contact lists, large ones).
        long raw = added.Where(a => tier.Holds(a.Key)).Sum(a => (long)a.Value);
        added = null;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var heap = after - before;
        var held = heap + tier.ArenaBytes;
        // What holding it costs each full collection (ingest with the tier on pays it as it grows).
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var fullMs = sw.Elapsed.TotalMilliseconds / 5;
        Console.WriteLine($"events held {tier.Count:N0}; raw JSON {raw / tier.Count:N0} B/event; held {held / tier.Count:N0} B/event " +
                          $"({(double)held / raw:F2}x raw; of it on the collector's heap {heap / tier.Count:N0} B/event); the tier's own estimate {tier.Bytes / tier.Count:N0} B/event; " +
                          $"a full compacting collection {fullMs:F0} ms");
        GC.KeepAlive(tier);
    }
}
