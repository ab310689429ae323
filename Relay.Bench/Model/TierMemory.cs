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
        Console.WriteLine($"events held {tier.Count:N0}; raw JSON {raw / tier.Count:N0} B/event; heap {held / tier.Count:N0} B/event " +
                          $"({(double)held / raw:F2}x raw); the tier's own estimate {tier.Bytes / tier.Count:N0} B/event");
        GC.KeepAlive(tier);
    }
}
