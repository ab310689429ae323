using Relay.Server.HotTier;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// `Relay.Bench.dll tier-memory events.jsonl`: what the hot tier holds per event, measured (the
/// managed heap after a full collection, before and after filling a tier with the file's events),
/// against the events' raw JSON. Each event is parsed and handed to the tier at once, so nothing
/// but the tier keeps it.
public static class TierMemory
{
    public static void Run(string path)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var tier = new RecentEvents(long.MaxValue);
        long raw = 0;
        foreach (var line in File.ReadLines(path))
        {
            if (EventParser.TryParse(System.Text.Encoding.UTF8.GetBytes(line), out _) is not { } e) continue;
            e.CommitSeq = 1;
            if (tier.Add(e)) raw += e.Raw.Length;
        }
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var held = after - before;
        // What holding it costs each full collection (ingest with the tier on pays it as it grows).
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var fullMs = sw.Elapsed.TotalMilliseconds / 5;
        Console.WriteLine($"events held {tier.Count:N0}; raw JSON {raw / tier.Count:N0} B/event; heap {held / tier.Count:N0} B/event " +
                          $"({(double)held / raw:F2}x raw); the tier's own estimate {tier.Bytes / tier.Count:N0} B/event; " +
                          $"a full compacting collection {fullMs:F0} ms");
        GC.KeepAlive(tier);
    }
}
