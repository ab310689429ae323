using System.Diagnostics;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Data;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Reporting;
using Relay.Storage.Model;

namespace Relay.LoadTests.Scenarios;

/// `seed`: writes N signed events (one JSON per line) for the other scenarios. The plan is
/// deterministic (same --seed, same events and ids; only the BIP-340 aux randomness of the
/// signatures differs); signing runs on all cores, chunk by chunk so that replies can refer to
/// notes of earlier chunks.
internal static class SeedScenario
{
    private const int ChunkSize = 2048;

    public static int Run(Args args, CancellationToken ct)
    {
        var count = args.Int("count", 20_000, 1);
        var outPath = args.String("out", "events.jsonl");
        var authors = args.Int("authors", 1000, 1, 1_000_000);
        var seed = args.Int("seed", 42);
        var days = args.Double("days", 30, 0.01, 3 * 365 - 1);
        var threads = args.Int("threads", Environment.ProcessorCount, 1, 256);
        args.EnsureAllUsed();

        var cpu = new CpuMeter(null);
        var started = Stopwatch.GetTimestamp();
        var pubkeys = new string[authors];
        Parallel.For(0, authors, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            using var s = EventSigner.FromSeed($"author-{i}");
            pubkeys[i] = s.Pubkey;
        });

        // One signer per author per thread: EventSigner keeps a libsecp256k1 context and is not
        // documented as thread-safe.
        using var signers = new ThreadLocal<Dictionary<int, EventSigner>>(() => [], trackAllValues: true);
        var planner = new EventPlanner(seed, pubkeys);
        var rng = new Random(seed ^ 0x5eed);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60;
        var span = (long)(days * 86400);
        var kinds = new SortedDictionary<int, int>();
        long bytes = 0;

        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        using (var file = new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20))
        {
            for (var done = 0; done < count && !ct.IsCancellationRequested; done += ChunkSize)
            {
                var n = Math.Min(ChunkSize, count - done);
                var plan = new PlannedEvent[n];
                for (var i = 0; i < n; i++)
                {
                    // Spread evenly over the window, oldest first, so references point back in time.
                    var at = now - span + (long)((done + i + rng.NextDouble()) * span / count);
                    plan[i] = planner.Next(Math.Min(at, now));
                }
                var signed = new byte[n][];
                Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
                {
                    var mine = signers.Value!;
                    var p = plan[i];
                    if (!mine.TryGetValue(p.Author, out var signer)) mine[p.Author] = signer = EventSigner.FromSeed($"author-{p.Author}");
                    signed[i] = signer.SignUtf8(p.Kind, p.Content, p.Tags, p.CreatedAt);
                });
                for (var i = 0; i < n; i++)
                {
                    planner.Signed(plan[i], signed[i]);
                    file.Write(signed[i]);
                    file.WriteByte((byte)'\n');
                    bytes += signed[i].Length;
                    kinds[plan[i].Kind] = kinds.GetValueOrDefault(plan[i].Kind) + 1;
                }
                var total = done + n;
                if (total % (ChunkSize * 5) < ChunkSize || total == count)
                    Console.Error.WriteLine($"[{Stopwatch.GetElapsedTime(started).TotalSeconds,5:F0}s] signed {total:N0}/{count:N0} ({total / Stopwatch.GetElapsedTime(started).TotalSeconds:N0}/s)");
            }
        }
        foreach (var dict in signers.Values)
            foreach (var s in dict.Values) s.Dispose();

        var use = cpu.Elapsed();
        var written = kinds.Values.Sum();
        var report = new Report("seed", args, url: null, relayPid: null, markdown: false);
        report.Info("file", Path.GetFullPath(outPath));
        report.Info("kinds", string.Join(", ", kinds.Select(k => $"{k.Key}: {k.Value} ({100.0 * k.Value / Math.Max(1, written):F1}%)")));
        report.Figure("events", "events written", written, "", use);
        report.Figure("events_per_s", "signing rate", written / use.WallSeconds, "events/s", use);
        report.Figure("mean_event_bytes", "mean event size", (double)bytes / Math.Max(1, written), "bytes", use);
        report.Figure("file_mib", "file size", bytes / 1048576.0, "MiB", use);
        report.Cpu("", use);
        report.Write();
        return ct.IsCancellationRequested ? 1 : 0;
    }
}
