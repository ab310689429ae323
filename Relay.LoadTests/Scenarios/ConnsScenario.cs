using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;
using Relay.LoadTests.Reporting;

namespace Relay.LoadTests.Scenarios;

/// `conns`: opens connections in steps; each sends one REQ for a filter that matches nothing
/// (a random author, since now) and waits for EOSE, then stays open with its subscription live.
/// After each step (and a settle pause) reads the relay's VmRSS, and fits RSS against the
/// number of open connections: the slope is the relay's memory per idle subscribed connection.
internal static class ConnsScenario
{
    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var url = Common.Url(args);
        var pid = Common.Pid(args, required: true, why: "conns reads the relay's VmRSS from /proc/<pid>/status")!.Value;
        var total = args.Int("connections", 10_000, 1, 1_000_000);
        var step = args.Int("step", 1000, 1, 1_000_000);
        var parallel = args.Int("parallel", 200, 1, 10_000);
        var settle = args.Double("settle", 2, 0, 60);
        var timeout = args.Double("timeout", 900, 10, 3600);
        var report = new Report("conns", args, url.ToString(), pid);
        args.EnsureAllUsed();
        FdLimit.Require(total, "conns", "--connections");
        FdLimit.WarnForRelay(pid, total);

        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        runCts.CancelAfter(TimeSpan.FromSeconds(timeout));
        using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var conns = new ConcurrentBag<RelayConnection>();
        var readers = new ConcurrentBag<Task>();
        var errors = new ConcurrentDictionary<string, int>();
        var ended = new ConcurrentDictionary<string, int>();
        var connectLatency = new LatencyRecorder();
        var eoseLatency = new LatencyRecorder();
        long closedByRelay = 0, unexpected = 0;
        var failedTotal = 0;
        var openingSeconds = 0.0;
        var since = Common.UnixNow();

        async Task ReadAsync(RelayConnection c)
        {
            try
            {
                while (await c.ReceiveAsync(readCts.Token)) Interlocked.Increment(ref unexpected);
                Interlocked.Increment(ref closedByRelay);
                Common.Count(ended, $"close frame {(int?)c.CloseStatus} {c.CloseStatusDescription}");
            }
            catch (OperationCanceledException) { }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
                Interlocked.Increment(ref closedByRelay);
                Common.Count(ended, Common.Describe(e));
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(settle), ct);
        var points = new List<(int Conns, long RssKiB)> { (0, ProcFs.RssKiB(pid)) };
        var steps = new StringBuilder("| open | failed (step) | relay RSS MiB | Δ KiB/conn | connect p99 | EOSE p99 | loadgen CPU | relay CPU |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        Console.Error.WriteLine($"conns: {total:N0} in steps of {step:N0} → {url}; relay pid {pid} RSS {points[0].RssKiB / 1024.0:F1} MiB");
        var cpu = new CpuMeter(pid);
        while (conns.Count < total && !runCts.IsCancellationRequested)
        {
            var stepCpu = new CpuMeter(pid);
            var target = Math.Min(total, conns.Count + step);
            var failed = 0;
            var stepConnect = new LatencyRecorder();
            var stepEose = new LatencyRecorder();
            var toOpen = target - conns.Count;
            await Parallel.ForAsync(0, toOpen, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = runCts.Token }, async (_, token) =>
            {
                try
                {
                    var filter = $"{{\"kinds\":[1],\"authors\":[\"{Common.RandomHex()}\"],\"since\":{since}}}";
                    var (c, connectUs, eoseUs, _) = await Common.OpenAndSubscribeAsync(url, "idle", filter, token, bufferBytes: 256);
                    connectLatency.RecordMicros(connectUs);
                    eoseLatency.RecordMicros(eoseUs);
                    stepConnect.RecordMicros(connectUs);
                    stepEose.RecordMicros(eoseUs);
                    conns.Add(c);
                    readers.Add(Task.Run(() => ReadAsync(c)));
                }
                catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException or OperationCanceledException)
                {
                    Interlocked.Increment(ref failed);
                    Common.Count(errors, Common.Describe(e));
                }
            }).ContinueWith(_ => { }, TaskScheduler.Default);
            var use = stepCpu.Elapsed();
            failedTotal += failed;
            openingSeconds += use.WallSeconds;
            if (settle > 0) await Task.Delay(TimeSpan.FromSeconds(settle), CancellationToken.None);
            var rss = ProcFs.RssKiB(pid);
            if (rss < 0) { Common.Count(errors, $"relay process {pid} is gone"); break; }
            var prev = points[^1];
            var open = conns.Count - (int)Interlocked.Read(ref closedByRelay);
            points.Add((open, rss));
            var perConn = open == prev.Conns ? double.NaN : (double)(rss - prev.RssKiB) / (open - prev.Conns);
            steps.AppendLine(Common.Invariant($"| {open} | {failed} | {rss / 1024.0:F1} | {perConn:F1} | {LatencyRecorder.Format(stepConnect.Percentile(99))} | {LatencyRecorder.Format(stepEose.Percentile(99))} | {use.LoadgenPercent:F0}% | {use.RelayPercent:F0}% |"));
            Console.Error.WriteLine($"  open {open:N0} (failed {failed})  relay RSS {rss / 1024.0:F1} MiB  Δ {perConn:F1} KiB/conn  connect p99 {LatencyRecorder.Format(stepConnect.Percentile(99))}  EOSE p99 {LatencyRecorder.Format(stepEose.Percentile(99))} | {use.Describe()}");
            if (failed == toOpen) { Console.Error.WriteLine("  a whole step failed: stopping"); break; }
        }
        var all = cpu.Elapsed();
        var peak = ProcFs.StatusKiB(pid, "VmHWM:");
        var (slope, intercept, r2) = LeastSquares(points);
        // Without the no-connection point: a heap left over from earlier runs (a GC that returns
        // memory during the first step) bends the line at 0 and nowhere else.
        var (stepSlope, _, stepR2) = LeastSquares(points.Skip(1).ToList());
        await readCts.CancelAsync();
        await Task.WhenAll(readers);
        await Common.CloseAllAsync(conns);

        var final = points[^1];
        report.Figure("connections", "connections open at the end", final.Conns, "", all);
        report.Figure("failed", "connections that failed", failedTotal, "", all);
        report.Figure("closed_by_relay", "connections closed by the relay", closedByRelay, "", all);
        report.Figure("kib_per_conn", "relay RSS slope (least squares)", slope, "KiB/conn", all);
        report.Figure("fit_r2", "fit r²", r2, "", all);
        report.Figure("kib_per_conn_steps", "relay RSS slope over the steps only (no 0 point)", stepSlope, "KiB/conn", all);
        report.Figure("fit_steps_r2", "steps-only fit r²", stepR2, "", all);
        report.Figure("rss_start_mib", "relay RSS with no connections", points[0].RssKiB / 1024.0, "MiB", all);
        report.Figure("rss_end_mib", "relay RSS at the end", final.RssKiB / 1024.0, "MiB", all);
        report.Figure("rss_peak_mib", "relay peak RSS (VmHWM)", peak / 1024.0, "MiB", all);
        report.Figure("open_per_s", "connections opened/s (connect + REQ + EOSE)", conns.Count / openingSeconds, "conn/s", all);
        report.Figure("connect_p50_us", "WebSocket connect p50", connectLatency.Percentile(50), "µs", all);
        report.Figure("connect_p99_us", "WebSocket connect p99", connectLatency.Percentile(99), "µs", all);
        report.Figure("eose_p50_us", "REQ → EOSE p50", eoseLatency.Percentile(50), "µs", all);
        report.Figure("eose_p99_us", "REQ → EOSE p99", eoseLatency.Percentile(99), "µs", all);
        report.Figure("unexpected_messages", "messages received after EOSE", unexpected, "", all);
        report.Cpu("", all);

        var xs = points.Select(p => (double)p.Conns).ToArray();
        Charts.Lines(report.ChartPath("rss.png"), $"Relay RSS vs open connections ({slope:F1} KiB/conn)", "open connections", "RSS (MiB)",
        [
            ("VmRSS", xs, points.Select(p => p.RssKiB / 1024.0).ToArray()),
            ("least squares", xs, xs.Select(x => (intercept + slope * x) / 1024.0).ToArray()),
        ]);
        report.Chart("rss.png", "relay RSS against open connections");
        report.Section("Steps", steps.ToString());
        report.Section("Filter", $"each connection: `[\"REQ\",\"idle\",{{\"kinds\":[1],\"authors\":[\"<random pubkey>\"],\"since\":{since}}}]`, then no traffic (the load generator sends no pings)");
        report.Section("Connection errors", Common.Table(errors, "error"));
        report.Section("Connections closed by the relay", Common.Table(ended, "how"));
        report.Write();
        return 0;
    }

    /// Least-squares line rss = intercept + slope·conns, with r².
    internal static (double Slope, double Intercept, double R2) LeastSquares(IReadOnlyList<(int Conns, long RssKiB)> points)
    {
        var n = points.Count;
        if (n < 2) return (double.NaN, double.NaN, double.NaN);
        double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
        foreach (var (c, r) in points)
        {
            sx += c; sy += r; sxx += (double)c * c; sxy += (double)c * r; syy += (double)r * r;
        }
        var den = n * sxx - sx * sx;
        if (den == 0) return (double.NaN, double.NaN, double.NaN);
        var slope = (n * sxy - sx * sy) / den;
        var intercept = (sy - slope * sx) / n;
        var ssTot = syy - sy * sy / n;
        var ssRes = 0.0;
        foreach (var (c, r) in points)
        {
            var e = r - (intercept + slope * c);
            ssRes += e * e;
        }
        return (slope, intercept, ssTot == 0 ? double.NaN : 1 - ssRes / ssTot);
    }
}
