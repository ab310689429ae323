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

/// `ingest`: K connections each keep up to W EVENTs in flight (send until W are unanswered, then
/// one more per OK). Counts OK true (durable: the relay answers after commit), duplicates, OK
/// false by message; OK latency is from just before the send to the OK's arrival.
internal static class IngestScenario
{
    private static readonly byte[] Prefix = "[\"EVENT\","u8.ToArray();

    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var url = Common.Url(args);
        var pid = Common.Pid(args);
        var eventsPath = args.String("events", "events.jsonl");
        var connections = args.Int("connections", 8, 1, 10_000);
        var window = args.Int("window", 500, 1, 1_000_000);
        var limit = args.Int("limit", int.MaxValue, 1);
        var duration = args.Double("duration", 300, 1, 3600);
        var drain = args.Double("drain", 30, 0, 600);
        var report = new Report("ingest", args, url.ToString(), pid);
        args.EnsureAllUsed();

        var corpus = EventCorpus.Load(eventsPath, limit);
        var n = corpus.Count;
        Console.Error.WriteLine($"loaded {n:N0} events from {eventsPath}; {connections} connections × window {window} → {url}");
        var index = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++) index.TryAdd(corpus.Ids[i], i);
        var lookup = index.GetAlternateLookup<ReadOnlySpan<char>>();

        var sendTicks = new long[n];
        var next = -1;
        long sent = 0, answered = 0, accepted = 0, duplicates = 0, rejected = 0, unknownOk = 0, notices = 0;
        long firstSend = 0, lastOk = 0;
        var latency = new LatencyRecorder();
        var reasons = new ConcurrentDictionary<string, int>();
        var noticeTexts = new ConcurrentDictionary<string, int>();
        var errors = new ConcurrentDictionary<string, int>();

        var conns = new RelayConnection[connections];
        try
        {
            await Parallel.ForAsync(0, connections, ct, async (i, token) => conns[i] = await RelayConnection.OpenAsync(url, token));
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException)
        {
            foreach (var c in conns) c?.Dispose();
            throw new ScenarioException($"cannot connect to {url}: {Common.Describe(e)}");
        }

        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        runCts.CancelAfter(TimeSpan.FromSeconds(duration));
        using var receiveCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var cpu = new CpuMeter(pid);
        var timeline = new Timeline(pid,
            () => [Interlocked.Read(ref accepted), Interlocked.Read(ref rejected), Interlocked.Read(ref duplicates), Interlocked.Read(ref sent), Interlocked.Read(ref answered)],
            (c, r) => $"sent {c[3]:N0}/{n:N0}  accepted {c[0]:N0} ({r[0]:N0}/s)  dup {c[2]:N0}  rejected {c[1]:N0}  in flight {c[3] - c[4]:N0}");

        async Task ConnectionAsync(RelayConnection conn)
        {
            using var window0 = new SemaphoreSlim(window);
            using var connCts = CancellationTokenSource.CreateLinkedTokenSource(runCts.Token);
            var receiver = Task.Run(async () =>
            {
                var idChars = new char[64];
                try
                {
                    while (await conn.ReceiveAsync(receiveCts.Token))
                    {
                        if (!RelayMessage.TryParse(conn.Message, out var m)) continue;
                        if (m.Type == RelayMessageType.Notice) { Interlocked.Increment(ref notices); Common.Count(noticeTexts, m.Text); continue; }
                        if (m.Type != RelayMessageType.Ok) continue;
                        var now = Stopwatch.GetTimestamp();
                        if (m.Key.Length == 64 && Encoding.ASCII.GetChars(m.Key, idChars) == 64 && lookup.TryGetValue(idChars.AsSpan(), out var idx)
                            && Interlocked.Exchange(ref sendTicks[idx], 0) is var t0 and not 0)
                        {
                            latency.RecordMicros(LatencyRecorder.ElapsedMicros(t0, now));
                        }
                        else
                        {
                            Interlocked.Increment(ref unknownOk);
                        }
                        if (!m.Accepted) { Interlocked.Increment(ref rejected); Common.Count(reasons, m.Text); }
                        else if (m.Text is { } t && t.StartsWith("duplicate:", StringComparison.Ordinal)) Interlocked.Increment(ref duplicates);
                        else Interlocked.Increment(ref accepted);
                        Interlocked.Exchange(ref lastOk, now);
                        Interlocked.Increment(ref answered);
                        window0.Release();
                    }
                    Common.Count(errors, $"closed by relay: {(int?)conn.CloseStatus} {conn.CloseStatusDescription}");
                }
                catch (OperationCanceledException) { }
                catch (Exception e) when (e is WebSocketException or IOException) { Common.Count(errors, "receive: " + Common.Describe(e)); }
                await connCts.CancelAsync();
            });

            var frame = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    await window0.WaitAsync(connCts.Token);
                    var i = Interlocked.Increment(ref next);
                    if (i >= n) break;
                    var json = corpus.Json[i];
                    var len = Prefix.Length + json.Length + 1;
                    if (len > frame.Length) frame = new byte[len * 2];
                    Prefix.CopyTo(frame, 0);
                    json.CopyTo(frame, Prefix.Length);
                    frame[len - 1] = (byte)']';
                    var t = Stopwatch.GetTimestamp();
                    Interlocked.CompareExchange(ref firstSend, t, 0);
                    Volatile.Write(ref sendTicks[i], t);
                    Interlocked.Increment(ref sent);
                    await conn.SendAsync(frame.AsMemory(0, len), connCts.Token);
                }
            }
            catch (OperationCanceledException) { }
            catch (Exception e) when (e is WebSocketException or IOException) { Common.Count(errors, "send: " + Common.Describe(e)); }
            await receiver;
        }

        var sending = conns.Select(c => Task.Run(() => ConnectionAsync(c))).ToArray();
        // Senders stop when the events run out or time is up; then give the OKs time to arrive.
        while (!sending.All(t => t.IsCompleted) && !runCts.IsCancellationRequested)
        {
            if (Volatile.Read(ref next) >= n - 1 && Interlocked.Read(ref answered) >= Interlocked.Read(ref sent)) break;
            await Task.Delay(20, CancellationToken.None);
        }
        var drainUntil = Stopwatch.GetTimestamp() + (long)(drain * Stopwatch.Frequency);
        while (Interlocked.Read(ref answered) < Interlocked.Read(ref sent) && Stopwatch.GetTimestamp() < drainUntil && !ct.IsCancellationRequested)
            await Task.Delay(20, CancellationToken.None);
        var use = cpu.Elapsed();
        await receiveCts.CancelAsync();
        await runCts.CancelAsync();
        await Task.WhenAll(sending);
        await timeline.DisposeAsync();
        await Common.CloseAllAsync(conns);

        var active = firstSend == 0 || lastOk == 0 ? double.NaN : LatencyRecorder.ElapsedMicros(firstSend, lastOk) / 1e6;
        report.Info("events_file", Path.GetFullPath(eventsPath));
        report.Info("setup", $"{connections} connections × window {window} ({connections * window} in flight at most)");
        report.Figure("events", "events in file (used)", n, "", use);
        report.Figure("sent", "EVENTs sent", sent, "", use);
        report.Figure("accepted", "OK true (new, durable)", accepted, "", use);
        report.Figure("duplicates", "OK true \"duplicate:\"", duplicates, "", use);
        report.Figure("rejected", "OK false", rejected, "", use);
        report.Figure("unanswered", "sent without OK at the end", sent - answered, "", use);
        report.Figure("accepted_per_s", "accepted events/s (first send → last OK)", accepted / active, "events/s", use);
        report.Figure("ok_per_s", "OK replies/s (any outcome)", answered / active, "OK/s", use);
        report.Figure("ok_latency_p50_us", "OK latency p50", latency.Percentile(50), "µs", use);
        report.Figure("ok_latency_p99_us", "OK latency p99", latency.Percentile(99), "µs", use);
        report.Figure("ok_latency_max_us", "OK latency max", latency.Max, "µs", use);
        report.Figure("notices", "NOTICEs", notices, "", use);
        report.Cpu("", use);

        var seconds = timeline.Seconds.ToArray();
        Charts.Lines(report.ChartPath("throughput.png"), "Ingest throughput", "seconds", "per second",
        [
            ("accepted/s", seconds, timeline.Series(0)),
            ("duplicate/s", seconds, timeline.Series(2)),
            ("rejected/s", seconds, timeline.Series(1)),
        ]);
        Charts.LatencyByPercentile(report.ChartPath("ok-latency.png"), "OK latency (send → OK)", [("OK", latency)]);
        Charts.Cpu(report.ChartPath("cpu.png"), timeline);
        report.Chart("throughput.png", "throughput over time");
        report.Chart("ok-latency.png", "OK latency by percentile");
        report.Chart("cpu.png", "CPU over time");
        report.Section("OK false messages", Common.Table(reasons, "message"));
        report.Section("NOTICEs", Common.Table(noticeTexts, "notice"));
        report.Section("Connection errors", Common.Table(errors, "error"));
        if (unknownOk > 0) report.Section("Unmatched OKs", $"{unknownOk} OK replies named an id we had no pending send for (unknown id, or a second OK).");
        report.Write();
        return 0;
    }
}
