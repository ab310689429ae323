using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Data;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;
using Relay.LoadTests.Reporting;

namespace Relay.LoadTests.Scenarios;

/// `stalled`: what clients that ask for a lot and never read do to everyone else's reads. A
/// normal client times REQs by id (to EOSE) alone; then N connections each send R REQs of F
/// filters `{"until": …, "limit": L}` (each filter its own slice of time) and stop reading, and
/// the normal client times the same REQs again. A relay whose stored answers hold a query slot
/// while they wait for a reader serves the normal client only as those answers time out.
internal static class StalledReadersScenario
{
    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var url = Common.Url(args);
        var pid = Common.Pid(args);
        var eventsPath = args.String("events", "events.jsonl");
        var stalled = args.Int("stalled", 20, 0, 10_000);
        var reqs = args.Int("reqs", 10, 1, 1000);
        var filters = args.Int("filters", 20, 1, 100);
        var limit = args.Int("limit", 500, 1, 100_000);
        var probes = args.Int("probes", 100, 1, 100_000);
        var timeout = args.Double("timeout", 120, 1, 3600);
        var report = new Report("stalled", args, url.ToString(), pid);
        args.EnsureAllUsed();

        var corpus = EventCorpus.Load(eventsPath);
        if (corpus.Count == 0) throw new ScenarioException($"{eventsPath} has no events");
        var (minAt, maxAt) = (corpus.CreatedAt.Min(), corpus.CreatedAt.Max());
        Console.Error.WriteLine($"{probes} REQs by id alone, then beside {stalled} stalled readers ({reqs} REQs × {filters} filters × limit {limit}) → {url}");

        var rng = new Random(7);
        RelayConnection probe;
        try { probe = await RelayConnection.OpenAsync(url, ct); }
        catch (Exception e) when (e is WebSocketException or HttpRequestException) { throw new ScenarioException($"cannot connect to {url}: {Common.Describe(e)}"); }
        var errors = new ConcurrentDictionary<string, int>();

        async Task<LatencyRecorder> ProbeAsync(string phase)
        {
            var latency = new LatencyRecorder();
            for (var i = 0; i < probes && !ct.IsCancellationRequested; i++)
            {
                var sub = $"{phase}{i}";
                var subBytes = Encoding.ASCII.GetBytes(sub);
                using var one = CancellationTokenSource.CreateLinkedTokenSource(ct);
                one.CancelAfter(TimeSpan.FromSeconds(timeout));
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    await probe.SendAsync(Common.Utf8($"[\"REQ\",\"{sub}\",{{\"ids\":[\"{corpus.Ids[rng.Next(corpus.Count)]}\"]}}]"), one.Token);
                    while (true)
                    {
                        if (!await probe.ReceiveAsync(one.Token)) throw new ScenarioException($"the relay closed the probe: {probe.CloseStatusDescription}");
                        if (!RelayMessage.TryParse(probe.Message, out var m) || !m.Key.SequenceEqual(subBytes)) continue;
                        if (m.Type == RelayMessageType.Eose) { latency.RecordSince(t0); break; }
                        if (m.Type == RelayMessageType.Closed) { Common.Count(errors, $"CLOSED: {m.Text}"); break; }
                    }
                    await probe.SendAsync(Common.Utf8($"[\"CLOSE\",\"{sub}\"]"), ct);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Common.Count(errors, $"no EOSE within {timeout} s ({phase})");
                    latency.RecordMicros((long)(timeout * 1_000_000));
                    break;   // the probe connection is out of step now
                }
            }
            return latency;
        }

        var cpu = new CpuMeter(pid);
        var alone = await ProbeAsync("alone");
        var aloneCpu = cpu.Elapsed();

        // Each filter a different slice of time, so an answer is filters × limit distinct events
        // (megabytes: more than the kernel's socket buffers take for a client that reads nothing).
        var filterList = string.Join(",", Enumerable.Range(0, filters).Select(i => $"{{\"until\":{maxAt - (maxAt - minAt) * i / filters},\"limit\":{limit}}}"));
        var hostile = new List<RelayConnection>();
        for (var c = 0; c < stalled; c++)
        {
            try
            {
                var conn = await RelayConnection.OpenAsync(url, ct);
                for (var r = 0; r < reqs; r++) await conn.SendAsync(Common.Utf8($"[\"REQ\",\"s{r}\",{filterList}]"), ct);
                hostile.Add(conn);   // never read again
            }
            catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException)
            {
                Common.Count(errors, "stalled reader: " + Common.Describe(e));
            }
        }
        await Task.Delay(1000, ct);
        cpu.Restart();
        var beside = await ProbeAsync("beside");
        var besideCpu = cpu.Elapsed();
        var rss = pid is { } p ? ProcFs.RssKiB(p) / 1024.0 : double.NaN;

        foreach (var c in hostile) c.Dispose();
        await Common.CloseAllAsync([probe]);

        report.Info("events_file", Path.GetFullPath(eventsPath));
        report.Figure("stalled", "stalled readers", hostile.Count, "");
        report.Figure("alone_p50_us", "REQ by id alone: time to EOSE p50", alone.Percentile(50), "µs", aloneCpu);
        report.Figure("alone_p99_us", "REQ by id alone: time to EOSE p99", alone.Percentile(99), "µs", aloneCpu);
        report.Figure("beside_p50_us", "REQ by id beside the stalled readers: p50", beside.Percentile(50), "µs", besideCpu);
        report.Figure("beside_p99_us", "REQ by id beside the stalled readers: p99", beside.Percentile(99), "µs", besideCpu);
        report.Figure("beside_max_us", "REQ by id beside the stalled readers: max", beside.Max, "µs", besideCpu);
        report.Figure("beside_answered", "REQs by id answered beside the stalled readers", beside.Count, "", besideCpu);
        report.Figure("relay_rss_mib", "relay RSS with the stalled readers open", rss, "MiB");
        report.Cpu("beside_", besideCpu);
        report.Section("Errors", Common.Table(errors, "error"));
        report.Write();
        return 0;
    }
}
