using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;
using Relay.LoadTests.Reporting;

namespace Relay.LoadTests.Scenarios;

/// `fanout`: S subscribers (opened a batch at a time), a fraction of them with a filter that
/// matches the publisher's events (#t = this run's tag), the rest with one that matches nothing
/// (a random author); one publisher at R events/s. Reports delivery latency (publisher's send →
/// subscriber's receipt) and delivered/expected. With several relay processes (`--url a,b`, one
/// database and Redis between them), subscriber i and event i go to process i mod n, so most
/// deliveries cross the bus; `--pid a,b` and `--redis-pid` report each process's CPU.
internal static class FanoutScenario
{
    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var urls = Common.Urls(args);
        var url = urls[0];
        var pids = Common.Pids(args);
        int? pid = pids.Length > 0 ? pids[0] : null;
        var redisPid = Common.Pids(args, "redis-pid").FirstOrDefault();
        var subscribers = args.Int("subscribers", 2000, 1, 100_000);
        var fraction = args.Double("match-fraction", 1.0, 0, 1);
        var rate = args.Double("rate", 50, 0.1, 100_000);
        var duration = args.Double("duration", 30, 1, 3600);
        var batch = args.Int("batch", 200, 1, 10_000);
        var grace = args.Double("grace", 5, 0, 120);
        var report = new Report("fanout", args, string.Join(",", urls.Select(u => u.ToString())), pid);
        args.EnsureAllUsed();
        FdLimit.Require(subscribers + 1, "fanout", "--subscribers");

        var runTag = "lt-" + Common.RandomHex(6);
        var since = Common.UnixNow() - 5;
        var maxEvents = (int)Math.Ceiling(rate * duration);
        var matchingCount = (int)Math.Round(subscribers * fraction);
        Console.Error.WriteLine($"fanout {runTag}: {subscribers} subscribers ({matchingCount} matching), {rate}/s for {duration} s → {string.Join(", ", urls.Select(u => u.ToString()))}");

        var pubConns = new List<RelayConnection>();
        foreach (var u in urls)
        {
            try { pubConns.Add(await RelayConnection.OpenAsync(u, ct)); }
            catch (Exception e) when (e is WebSocketException or HttpRequestException) { throw new ScenarioException($"cannot connect to {u}: {Common.Describe(e)}"); }
        }
        var publisher = new LivePublisher(pubConns, runTag, maxEvents);
        var deliveryLatency = new LatencyRecorder();
        using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var okReader = Task.Run(() => publisher.ReadOksAsync(readCts.Token));

        // Phase 1: open subscribers a batch at a time; each reads to EOSE, then keeps reading.
        var connectLatency = new LatencyRecorder();
        var eoseLatency = new LatencyRecorder();
        var openErrors = new ConcurrentDictionary<string, int>();
        var subs = new ConcurrentBag<LiveSubscriber>();
        var readers = new ConcurrentBag<Task>();
        var connectCpu = new CpuMeter(pid);
        for (var first = 0; first < subscribers && !ct.IsCancellationRequested; first += batch)
        {
            await Parallel.ForAsync(first, Math.Min(subscribers, first + batch), async (i, _) =>
            {
                var matching = i < matchingCount;
                var filter = matching ? publisher.MatchingFilter(since) : $"{{\"kinds\":[1],\"authors\":[\"{Common.RandomHex()}\"],\"since\":{since}}}";
                try
                {
                    var (conn, connectUs, eoseUs, _) = await Common.OpenAndSubscribeAsync(urls[i % urls.Length], $"f{i}", filter, ct, bufferBytes: 2048);
                    connectLatency.RecordMicros(connectUs);
                    eoseLatency.RecordMicros(eoseUs);
                    var sub = new LiveSubscriber(conn, matching, maxEvents);
                    subs.Add(sub);
                    readers.Add(Task.Run(() => sub.ReadAsync(publisher, deliveryLatency, readCts.Token)));
                }
                catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException or OperationCanceledException)
                {
                    Common.Count(openErrors, Common.Describe(e));
                }
            });
            Console.Error.WriteLine($"  subscribers open: {subs.Count:N0}/{subscribers:N0}");
        }
        var connectUse = connectCpu.Elapsed();
        var open = subs.Count;
        var openMatching = subs.Count(s => s.Matching);

        // Phase 2: publish, then wait for the deliveries (or the grace period) to finish.
        var cpu = new CpuMeter(pid);
        var processCpu = pids.Skip(1).Append(redisPid).Where(p => p > 0).Select(p => new CpuMeter(p)).ToArray();
        var timeline = new Timeline(pid,
            () => [Interlocked.Read(ref publisher.Published), Interlocked.Read(ref publisher.Delivered), Interlocked.Read(ref publisher.Accepted)],
            (c, r) => $"published {c[0]:N0} ({r[0]:N0}/s)  accepted {c[2]:N0}  delivered {c[1]:N0} ({r[1]:N0}/s)  p99 {LatencyRecorder.Format(deliveryLatency.Percentile(99))}");
        var publishSeconds = await publisher.PublishThenAwaitDeliveriesAsync(rate, maxEvents, duration, grace, openMatching,
            () => cpu.Elapsed().WallSeconds, ct);
        var use = cpu.Elapsed();
        var processUse = processCpu.Select(m => m.Elapsed()).ToArray();
        await timeline.DisposeAsync();
        await readCts.CancelAsync();
        await Task.WhenAll(readers);
        await okReader;
        await Common.CloseAllAsync(subs.Select(s => s.Connection).Concat(pubConns));

        var expected = (double)openMatching * publisher.Accepted;
        var endedEarly = subs.Where(s => s.Ended is not null).ToList();
        report.Info("run_tag", runTag);
        report.Figure("subscribers", "subscribers open", open, "", connectUse);
        report.Figure("matching", "matching subscribers", openMatching, "", connectUse);
        report.Figure("open_failed", "subscribers that failed to open", subscribers - open, "", connectUse);
        report.Figure("open_per_s", "subscribers opened/s (connect + REQ + EOSE)", open / connectUse.WallSeconds, "conn/s", connectUse);
        report.Figure("connect_p99_us", "WebSocket connect p99", connectLatency.Percentile(99), "µs", connectUse);
        report.Figure("eose_p99_us", "REQ → EOSE p99", eoseLatency.Percentile(99), "µs", connectUse);
        report.Figure("published", "events published", publisher.Published, "", use);
        report.Figure("publish_rate", "publish rate achieved", publisher.Published / publishSeconds, "events/s", use);
        report.Figure("accepted", "OK true", publisher.Accepted, "", use);
        report.Figure("rejected", "OK false", publisher.Rejected, "", use);
        report.Figure("ok_p99_us", "publisher OK latency p99", publisher.OkLatency.Percentile(99), "µs", use);
        report.Figure("expected", "expected deliveries (matching × accepted)", expected, "", use);
        report.Figure("delivered", "delivered", publisher.Delivered, "", use);
        report.Figure("delivered_ratio", "delivered / expected", expected == 0 ? double.NaN : publisher.Delivered / expected, "", use);
        report.Figure("deliveries_per_s", "deliveries/s (publish phase)", publisher.Delivered / publishSeconds, "events/s", use);
        report.Figure("delivery_p50_us", "delivery latency p50", deliveryLatency.Percentile(50), "µs", use);
        report.Figure("delivery_p99_us", "delivery latency p99", deliveryLatency.Percentile(99), "µs", use);
        report.Figure("delivery_max_us", "delivery latency max", deliveryLatency.Max, "µs", use);
        report.Figure("duplicates", "duplicate deliveries", publisher.DuplicateDeliveries, "", use);
        report.Figure("unexpected", "events delivered to non-matching subscribers", publisher.Unexpected, "", use);
        report.Figure("subscribers_closed", "subscribers closed by the relay", endedEarly.Count, "", use);
        report.Cpu("connect", connectUse);
        report.Cpu("", use);
        // Each further relay process (the first is relay_cpu_pct above), Redis, and the relays' CPU
        // per delivery over all processes: across processes it should stay what it is on one.
        var relaySeconds = use.RelayCpuSeconds;
        for (var k = 1; k < pids.Length; k++)
        {
            report.Figure($"relay{k + 1}_cpu_pct", $"relay process {k + 1} CPU", processUse[k - 1].RelayPercent, "%", use);
            relaySeconds += processUse[k - 1].RelayCpuSeconds;
        }
        if (redisPid > 0) report.Figure("redis_cpu_pct", "Redis CPU", processUse[^1].RelayPercent, "%", use);
        if (pid is not null)
            report.Figure("relay_cpu_us_per_delivery", "relay CPU per delivery, all processes", 1e6 * relaySeconds / Math.Max(1, publisher.Delivered), "µs", use);

        var seconds = timeline.Seconds.ToArray();
        Charts.Lines(report.ChartPath("deliveries.png"), "Fan-out deliveries", "seconds", "per second",
        [
            ("deliveries/s", seconds, timeline.Series(1)),
            ($"published/s × {Math.Max(1, openMatching)}", seconds, timeline.Series(0).Select(v => v * Math.Max(1, openMatching)).ToArray()),
        ]);
        Charts.LatencyByPercentile(report.ChartPath("delivery-latency.png"), "Delivery latency (publisher send → subscriber receipt)",
            [("delivery", deliveryLatency), ("publisher OK", publisher.OkLatency)]);
        Charts.Cpu(report.ChartPath("cpu.png"), timeline);
        report.Chart("deliveries.png", "deliveries over time");
        report.Chart("delivery-latency.png", "delivery latency by percentile");
        report.Chart("cpu.png", "CPU over time (publish phase)");
        report.Section("Filters", $"matching: `{publisher.MatchingFilter(since)}`\n\nnot matching: `{{\"kinds\":[1],\"authors\":[\"<random pubkey>\"],\"since\":{since}}}`");
        report.Section("Subscribers that failed to open", Common.Table(openErrors, "error"));
        var ended = new ConcurrentDictionary<string, int>();
        foreach (var s in endedEarly) Common.Count(ended, s.Ended);
        report.Section("Subscribers closed during the run", Common.Table(ended, "how"));
        report.Section("Publisher", $"OK false: {Common.Table(publisher.Rejections, "message")}\n\npublisher connection: {publisher.Ended ?? "open to the end"}");
        report.Write();
        return 0;
    }
}
