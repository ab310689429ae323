using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;
using Relay.LoadTests.Reporting;

namespace Relay.LoadTests.Scenarios;

/// `slowreader`: healthy subscribers read everything; slow ones subscribe to the same events but
/// stop reading after EOSE (socket open, ReceiveAsync never called), so the relay's outbound data
/// for them piles up. A publisher sends ~`size`-byte events at R/s. Reports the relay's RSS growth,
/// healthy delivery latency, and what happened to each slow connection: the relay's side of its
/// TCP socket is watched in /proc/net/tcp while it runs, and at the end the slow sockets are read
/// until their close frame (or error, or silence) to see the status and reason they were given.
internal static class SlowReaderScenario
{
    private sealed class Slow(RelayConnection conn, int index)
    {
        public RelayConnection Connection { get; } = conn;
        public int Index { get; } = index;
        public double? RelayClosedAt;
        public string? RelayTcpState;
        public long MaxRelayTxQueue;
        public long MaxOurRxQueue;
        public long DrainedEvents;
        public long DrainedBytes;
        public string Outcome = "";
        public bool Closed;

        /// Set before we abort the socket ourselves, so the watcher does not take our own
        /// teardown for the relay closing it.
        public volatile bool WeGaveUp;
    }

    /// One socket per port: a port may also appear in a TIME_WAIT left by an earlier connection,
    /// so a live (ESTABLISHED) entry wins, then any that is not TIME_WAIT.
    private static Dictionary<int, TcpSocket> ByPort(IEnumerable<TcpSocket> sockets, Func<TcpSocket, int> port)
    {
        const int timeWait = 6;
        var map = new Dictionary<int, TcpSocket>();
        foreach (var s in sockets)
        {
            var key = port(s);
            if (!map.TryGetValue(key, out var had) || (had.State != TcpSocket.Established && (s.State == TcpSocket.Established || had.State == timeWait)))
                map[key] = s;
        }
        return map;
    }

    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var url = Common.Url(args);
        var pid = Common.Pid(args);
        var healthyCount = args.Int("healthy", 200, 0, 100_000);
        var slowCount = args.Int("slow", 100, 0, 100_000);
        var rate = args.Double("rate", 200, 0.1, 100_000);
        var size = args.Int("size", 16_384, 0, 1 << 20);
        var duration = args.Double("duration", 30, 1, 3600);
        var batch = args.Int("batch", 100, 1, 10_000);
        var grace = args.Double("grace", 3, 0, 120);
        var drainIdle = args.Double("drain-idle", 3, 0.1, 120);
        var drainMax = args.Double("drain-max", 30, 1, 600);
        var report = new Report("slowreader", args, url.ToString(), pid);
        args.EnsureAllUsed();
        FdLimit.Require(healthyCount + slowCount + 1, "slowreader", "--healthy + --slow");
        if (pid is null) Console.Error.WriteLine("warning: no --pid: the relay's RSS and CPU are not measured");

        var runTag = "lt-" + Common.RandomHex(6);
        var since = Common.UnixNow() - 5;
        var maxEvents = (int)Math.Ceiling(rate * duration);
        // Content padding so the whole event JSON is about `size` bytes (id, sig, tags ≈ 300 B).
        var padding = LivePublisher.Padding(size - 330);
        Console.Error.WriteLine($"slowreader {runTag}: {healthyCount} healthy + {slowCount} slow, {rate}/s × ~{size} B for {duration} s → {url}");

        RelayConnection pubConn;
        try { pubConn = await RelayConnection.OpenAsync(url, ct); }
        catch (Exception e) when (e is WebSocketException or HttpRequestException) { throw new ScenarioException($"cannot connect to {url}: {Common.Describe(e)}"); }
        var publisher = new LivePublisher([pubConn], runTag, maxEvents, padding);
        using var readCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var okReader = Task.Run(() => publisher.ReadOksAsync(readCts.Token));
        var latency = new LatencyRecorder();
        var openErrors = new ConcurrentDictionary<string, int>();
        var healthy = new ConcurrentBag<LiveSubscriber>();
        var readers = new ConcurrentBag<Task>();
        var slows = new ConcurrentBag<Slow>();
        var filter = publisher.MatchingFilter(since);

        for (var first = 0; first < healthyCount + slowCount && !ct.IsCancellationRequested; first += batch)
        {
            await Parallel.ForAsync(first, Math.Min(healthyCount + slowCount, first + batch), async (i, _) =>
            {
                var isSlow = i >= healthyCount;
                try
                {
                    var (conn, _, _, _) = await Common.OpenAndSubscribeAsync(url, isSlow ? $"slow{i}" : $"h{i}", filter, ct, bufferBytes: 32 * 1024, trackLocalPort: isSlow);
                    if (isSlow)
                    {
                        // From here on nobody reads this socket until the end of the run.
                        slows.Add(new Slow(conn, i - healthyCount));
                    }
                    else
                    {
                        var sub = new LiveSubscriber(conn, matching: true, maxEvents);
                        healthy.Add(sub);
                        readers.Add(Task.Run(() => sub.ReadAsync(publisher, latency, readCts.Token)));
                    }
                }
                catch (Exception e) when (e is WebSocketException or HttpRequestException or IOException or OperationCanceledException)
                {
                    Common.Count(openErrors, Common.Describe(e));
                }
            });
        }
        Console.Error.WriteLine($"  open: {healthy.Count} healthy, {slows.Count} slow");
        var slowByPort = slows.ToDictionary(s => s.Connection.LocalPort);

        // Watch the relay: RSS every 250 ms, and the relay's side of each slow socket.
        var rssStart = pid is { } p0 ? ProcFs.RssKiB(p0) : -1;
        var rssSeries = new List<(double T, double MiB)>();
        var publishStart = Stopwatch.GetTimestamp();
        using var watchCts = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
            do
            {
                var t = Stopwatch.GetElapsedTime(publishStart).TotalSeconds;
                if (pid is { } p)
                {
                    var rss = ProcFs.RssKiB(p);
                    if (rss > 0) lock (rssSeries) rssSeries.Add((t, rss / 1024.0));
                }
                var sockets = ProcFs.TcpSockets(url.Port);
                var relaySide = ByPort(sockets.Where(s => s.LocalPort == url.Port), s => s.RemotePort);
                var ourSide = ByPort(sockets.Where(s => s.RemotePort == url.Port), s => s.LocalPort);
                foreach (var (port, slow) in slowByPort)
                {
                    if (ourSide.TryGetValue(port, out var mine)) slow.MaxOurRxQueue = Math.Max(slow.MaxOurRxQueue, mine.RxQueue);
                    if (slow.RelayClosedAt is not null || slow.WeGaveUp) continue;
                    if (relaySide.TryGetValue(port, out var theirs))
                    {
                        slow.MaxRelayTxQueue = Math.Max(slow.MaxRelayTxQueue, theirs.TxQueue);
                        if (theirs.State == TcpSocket.Established) continue;
                        slow.RelayTcpState = ProcFs.TcpStateName(theirs.State);
                    }
                    else
                    {
                        slow.RelayTcpState = "gone (reset or fully closed)";
                    }
                    slow.RelayClosedAt = t;
                }
            }
            while (await timer.WaitForNextTickAsync(watchCts.Token).ConfigureAwait(false));
        }, CancellationToken.None);

        var cpu = new CpuMeter(pid);
        var timeline = new Timeline(pid,
            () => [Interlocked.Read(ref publisher.Published), Interlocked.Read(ref publisher.Delivered), slowByPort.Values.Count(s => s.RelayClosedAt is not null)],
            (c, r) => $"published {c[0]:N0} ({r[0]:N0}/s)  healthy deliveries {c[1]:N0} (p99 {LatencyRecorder.Format(latency.Percentile(99))})  slow closed by relay {c[2]:N0}/{slowByPort.Count}"
                + (pid is { } p ? $"  relay RSS {ProcFs.RssKiB(p) / 1024.0:F0} MiB" : ""));
        var openHealthy = healthy.Count;
        var publishSeconds = await publisher.PublishThenAwaitDeliveriesAsync(rate, maxEvents, duration, grace, openHealthy,
            () => cpu.Elapsed().WallSeconds, ct);
        var use = cpu.Elapsed();
        await timeline.DisposeAsync();
        await readCts.CancelAsync();
        await Task.WhenAll(readers);
        await okReader;
        double rssMax;
        lock (rssSeries) rssMax = rssSeries.Count == 0 ? double.NaN : rssSeries.Max(s => s.MiB);

        // Now read what each slow socket was sent, up to its close frame, an error or silence.
        Console.Error.WriteLine($"  reading the {slows.Count} slow sockets…");
        var drainStart = Stopwatch.GetElapsedTime(publishStart).TotalSeconds;
        await Parallel.ForEachAsync(slows, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (s, _) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                while (true)
                {
                    // Not a cancellation token: cancelling aborts the socket before we can mark
                    // that it was us who gave up.
                    var receive = s.Connection.ReceiveAsync(CancellationToken.None).AsTask();
                    if (await Task.WhenAny(receive, Task.Delay(TimeSpan.FromSeconds(drainIdle))) != receive)
                    {
                        s.WeGaveUp = true;
                        s.Outcome = $"open: no close frame ({drainIdle} s of silence after the data)";
                        s.Connection.Dispose();
                        await receive.ContinueWith(_ => { }, TaskScheduler.Default);
                        break;
                    }
                    if (!await receive)
                    {
                        s.Closed = true;
                        s.Outcome = $"close frame {(int?)s.Connection.CloseStatus} \"{s.Connection.CloseStatusDescription}\"";
                        break;
                    }
                    s.DrainedBytes += s.Connection.Message.Length;
                    if (RelayMessage.TryParse(s.Connection.Message, out var m) && m.Type == RelayMessageType.Event) s.DrainedEvents++;
                    if (Stopwatch.GetElapsedTime(started).TotalSeconds > drainMax)
                    {
                        s.WeGaveUp = true;
                        s.Outcome = $"still receiving after {drainMax} s";
                        break;
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
                s.Closed = true;
                s.Outcome = "error: " + Common.Describe(e);
            }
        });
        // One more look, so a FIN that followed the last drained byte is seen.
        await Task.Delay(500, CancellationToken.None);
        await watchCts.CancelAsync();
        try { await watcher; } catch (OperationCanceledException) { }
        await Common.CloseAllAsync(healthy.Select(h => h.Connection).Concat(slows.Select(s => s.Connection)).Append(pubConn));

        var expected = (double)openHealthy * publisher.Accepted;
        var slowList = slows.OrderBy(s => s.Index).ToList();
        var closedTimes = slowList.Where(s => s.RelayClosedAt is not null).Select(s => s.RelayClosedAt!.Value).Order().ToList();
        var closedBeforeDrain = closedTimes.Count(t => t < drainStart);
        report.Info("run_tag", runTag);
        report.Figure("healthy", "healthy subscribers open", openHealthy, "", use);
        report.Figure("slow", "slow subscribers open", slowList.Count, "", use);
        report.Figure("published", "events published", publisher.Published, "", use);
        report.Figure("publish_rate", "publish rate achieved", publisher.Published / publishSeconds, "events/s", use);
        report.Figure("event_bytes", "event size", size, "bytes", use);
        report.Figure("accepted", "OK true", publisher.Accepted, "", use);
        report.Figure("ok_p99_us", "publisher OK latency p99", publisher.OkLatency.Percentile(99), "µs", use);
        report.Figure("rss_start_mib", "relay RSS before publishing", rssStart / 1024.0, "MiB", use);
        report.Figure("rss_max_mib", "relay RSS max", rssMax, "MiB", use);
        report.Figure("rss_growth_mib", "relay RSS growth (max − start)", rssMax - rssStart / 1024.0, "MiB", use);
        report.Figure("healthy_delivered_ratio", "healthy delivered / expected", expected == 0 ? double.NaN : publisher.Delivered / expected, "", use);
        report.Figure("healthy_p50_us", "healthy delivery latency p50", latency.Percentile(50), "µs", use);
        report.Figure("healthy_p99_us", "healthy delivery latency p99", latency.Percentile(99), "µs", use);
        report.Figure("healthy_max_us", "healthy delivery latency max", latency.Max, "µs", use);
        report.Figure("slow_closed_tcp_before_read", "slow sockets the relay closed (TCP) before we read them", closedBeforeDrain, "", use);
        report.Figure("slow_closed_tcp", "slow sockets the relay closed (TCP), by the end", closedTimes.Count, "", use);
        report.Figure("slow_closed_first_s", "first slow TCP close (s after publishing began)", closedTimes.Count > 0 ? closedTimes[0] : double.NaN, "s", use);
        report.Figure("slow_closed_median_s", "median slow TCP close (s)", closedTimes.Count > 0 ? closedTimes[closedTimes.Count / 2] : double.NaN, "s", use);
        report.Figure("slow_read_start_s", "we began reading the slow sockets at (s)", drainStart, "s", use);
        report.Figure("slow_closed_when_read", "slow sockets that ended in a close frame or error when read", slowList.Count(s => s.Closed), "", use);
        report.Figure("slow_drained_events_mean", "events a slow socket still held (mean)", slowList.Count == 0 ? double.NaN : slowList.Average(s => s.DrainedEvents), "", use);
        report.Figure("slow_max_relay_queue_kib", "largest relay-side TCP send queue", slowList.Count == 0 ? double.NaN : slowList.Max(s => s.MaxRelayTxQueue) / 1024.0, "KiB", use);
        report.Cpu("", use);

        var seconds = timeline.Seconds.ToArray();
        double[] rssT, rssV;
        lock (rssSeries) { rssT = rssSeries.Select(s => s.T).ToArray(); rssV = rssSeries.Select(s => s.MiB).ToArray(); }
        Charts.Lines(report.ChartPath("rss.png"), "Relay RSS during the run", "seconds since publishing began", "MiB", [("VmRSS", rssT, rssV)]);
        Charts.Lines(report.ChartPath("slow-closed.png"), "Slow readers closed by the relay (TCP, cumulative)", "seconds since publishing began", "connections",
            [("closed", closedTimes.ToArray(), Enumerable.Range(1, closedTimes.Count).Select(i => (double)i).ToArray())]);
        Charts.LatencyByPercentile(report.ChartPath("healthy-latency.png"), "Healthy delivery latency", [("healthy", latency), ("publisher OK", publisher.OkLatency)]);
        Charts.Cpu(report.ChartPath("cpu.png"), timeline);
        report.Chart("rss.png", "relay RSS over time");
        report.Chart("slow-closed.png", "slow readers closed over time");
        report.Chart("healthy-latency.png", "healthy delivery latency");
        report.Chart("cpu.png", "CPU over time");

        var outcomes = new ConcurrentDictionary<string, int>();
        foreach (var s in slowList) Common.Count(outcomes, s.Outcome);
        report.Section("Slow readers: what they got when finally read", Common.Invariant($"""
            We stopped reading after EOSE and began reading again {drainStart:F1} s after publishing began. "relay closed TCP at"
            is when the relay's side of the socket left ESTABLISHED in /proc/net/tcp (FIN_WAIT1: the relay closed it, its FIN
            still queued behind unsent data; gone: reset or fully closed); a close queued behind data only shows once we read.

            """) + "\n\n" + Common.Table(outcomes, "outcome"));
        var table = new StringBuilder("| # | relay closed TCP at (s) | relay TCP state | max relay send queue KiB | max our recv queue KiB | events drained | MiB drained | outcome when read |\n|---:|---:|---|---:|---:|---:|---:|---|\n");
        foreach (var s in slowList)
            table.AppendLine(Common.Invariant($"| {s.Index} | {(s.RelayClosedAt is { } t ? t.ToString("F1", System.Globalization.CultureInfo.InvariantCulture) : "open")} | {s.RelayTcpState ?? "ESTABLISHED"} | {s.MaxRelayTxQueue / 1024} | {s.MaxOurRxQueue / 1024} | {s.DrainedEvents} | {s.DrainedBytes / 1048576.0:F1} | {s.Outcome.Replace("|", "\\|", StringComparison.Ordinal)} |"));
        report.Section("Slow readers, one by one", table.ToString());
        var ended = new ConcurrentDictionary<string, int>();
        foreach (var h in healthy.Where(h => h.Ended is not null)) Common.Count(ended, h.Ended);
        report.Section("Healthy subscribers closed during the run", Common.Table(ended, "how"));
        report.Section("Subscribers that failed to open", Common.Table(openErrors, "error"));
        report.Section("Publisher", $"OK false: {Common.Table(publisher.Rejections, "message")}\n\npublisher connection: {publisher.Ended ?? "open to the end"}");
        report.Write();
        return 0;
    }
}
