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

/// `query`: C clients, each on its own connection, loop REQ → read to EOSE → CLOSE with filters
/// picked from the seeded data the way clients ask: a profile feed (authors+kinds), a thread
/// (#e), notifications (kinds+#p), the global feed (kinds+since+limit), a batch of 50 ids.
internal static class QueryScenario
{
    private sealed record QueryType(string Key, string Label, Func<Random, string> Filter)
    {
        public LatencyRecorder Latency { get; } = new();
        public long Events;
        public long Failures;
    }

    public static async Task<int> RunAsync(Args args, CancellationToken ct)
    {
        var url = Common.Url(args);
        var pid = Common.Pid(args);
        var eventsPath = args.String("events", "events.jsonl");
        var clients = args.Int("clients", 16, 1, 10_000);
        var duration = args.Double("duration", 30, 1, 3600);
        var typesArg = args.String("types", "author,e,p,since,ids");
        var seed = args.Int("seed", 1);
        var report = new Report("query", args, url.ToString(), pid);
        args.EnsureAllUsed();

        var corpus = EventCorpus.Load(eventsPath);
        if (corpus.Count == 0) throw new ScenarioException($"{eventsPath} has no events");
        var regular = Enumerable.Range(0, corpus.Count).Where(i => corpus.Kinds[i] is 1 or 6 or 7).Select(i => corpus.Ids[i]).ToArray();
        var minAt = corpus.CreatedAt.Min();
        var maxAt = corpus.CreatedAt.Max();
        var all = new List<QueryType>
        {
            new("author", "authors+kinds (profile feed)", r => $"{{\"authors\":[\"{corpus.Pubkeys[r.Next(corpus.Count)]}\"],\"kinds\":[1,6],\"limit\":50}}"),
            new("e", "#e (thread: replies, reactions, reposts)", r => $"{{\"kinds\":[1,6,7],\"#e\":[\"{corpus.ReferencedIds[r.Next(corpus.ReferencedIds.Count)]}\"],\"limit\":200}}"),
            new("p", "kinds+#p (notifications)", r => $"{{\"kinds\":[1,6,7],\"#p\":[\"{corpus.MentionedPubkeys[r.Next(corpus.MentionedPubkeys.Count)]}\"],\"limit\":100}}"),
            new("since", "kinds+since+limit (global feed)", r => $"{{\"kinds\":[1],\"since\":{minAt + (long)(r.NextDouble() * (maxAt - minAt))},\"limit\":100}}"),
            new("ids", "50 ids", r =>
            {
                var sb = new StringBuilder("{\"ids\":[");
                for (var i = 0; i < 50; i++) sb.Append(i == 0 ? "\"" : ",\"").Append(regular[r.Next(regular.Length)]).Append('"');
                return sb.Append("]}").ToString();
            }),
        };
        var wanted = typesArg.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var w in wanted)
            if (all.All(t => t.Key != w)) throw new UsageException($"--types: unknown '{w}' (use author,e,p,since,ids)");
        var types = all.Where(t => wanted.Contains(t.Key)
            && (t.Key != "e" || corpus.ReferencedIds.Count > 0)
            && (t.Key != "p" || corpus.MentionedPubkeys.Count > 0)
            && (t.Key != "ids" || regular.Length > 0)).ToArray();
        if (types.Length == 0) throw new ScenarioException("no query type can be built from this events file");
        Console.Error.WriteLine($"loaded {corpus.Count:N0} events; {clients} clients for {duration} s → {url}; types: {string.Join(", ", types.Select(t => t.Key))}");

        var conns = new RelayConnection[clients];
        try
        {
            await Parallel.ForAsync(0, clients, ct, async (i, token) => conns[i] = await RelayConnection.OpenAsync(url, token));
        }
        catch (Exception e) when (e is WebSocketException or HttpRequestException)
        {
            foreach (var c in conns) c?.Dispose();
            throw new ScenarioException($"cannot connect to {url}: {Common.Describe(e)}");
        }

        long reqs = 0, events = 0, failures = 0, unfinished = 0;
        var errors = new ConcurrentDictionary<string, int>();
        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        runCts.CancelAfter(TimeSpan.FromSeconds(duration));
        var cpu = new CpuMeter(pid);
        var timeline = new Timeline(pid,
            () => [Interlocked.Read(ref reqs), Interlocked.Read(ref events), Interlocked.Read(ref failures)],
            (c, r) => $"REQs {c[0]:N0} ({r[0]:N0}/s)  events {c[1]:N0} ({r[1]:N0}/s)  failed {c[2]:N0}");

        async Task ClientAsync(int client)
        {
            var conn = conns[client];
            var rng = new Random(seed * 7919 + client);
            var seq = 0;
            try
            {
                while (!runCts.IsCancellationRequested)
                {
                    var type = types[rng.Next(types.Length)];
                    var sub = $"q{client}-{seq++}";
                    var subBytes = Encoding.ASCII.GetBytes(sub);
                    var req = Common.Utf8($"[\"REQ\",\"{sub}\",{type.Filter(rng)}]");
                    var t0 = Stopwatch.GetTimestamp();
                    await conn.SendAsync(req, runCts.Token);
                    var got = 0;
                    var ok = false;
                    while (true)
                    {
                        if (!await conn.ReceiveAsync(runCts.Token))
                        {
                            Common.Count(errors, $"closed by relay: {(int?)conn.CloseStatus} {conn.CloseStatusDescription}");
                            return;
                        }
                        if (!RelayMessage.TryParse(conn.Message, out var m) || !m.Key.SequenceEqual(subBytes)) continue;
                        if (m.Type == RelayMessageType.Event) got++;
                        else if (m.Type == RelayMessageType.Eose) { ok = true; break; }
                        else if (m.Type == RelayMessageType.Closed) { Common.Count(errors, $"CLOSED ({type.Key}): {m.Text}"); break; }
                    }
                    if (ok)
                    {
                        type.Latency.RecordSince(t0);
                        Interlocked.Add(ref type.Events, got);
                        Interlocked.Add(ref events, got);
                        Interlocked.Increment(ref reqs);
                    }
                    else
                    {
                        Interlocked.Increment(ref type.Failures);
                        Interlocked.Increment(ref failures);
                    }
                    await conn.SendAsync(Common.Utf8($"[\"CLOSE\",\"{sub}\"]"), runCts.Token);
                }
            }
            catch (OperationCanceledException)
            {
                // Time is up in the middle of a REQ: that one is not counted.
                Interlocked.Increment(ref unfinished);
            }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
                Common.Count(errors, Common.Describe(e));
            }
        }

        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientAsync(i))));
        var use = cpu.Elapsed();
        await timeline.DisposeAsync();
        await Common.CloseAllAsync(conns);

        report.Info("events_file", Path.GetFullPath(eventsPath));
        report.Figure("reqs_per_s", "REQs/s (to EOSE)", reqs / use.WallSeconds, "REQ/s", use);
        report.Figure("events_per_s", "events returned/s", events / use.WallSeconds, "events/s", use);
        report.Figure("reqs", "REQs completed", reqs, "", use);
        report.Figure("failed", "REQs answered CLOSED", failures, "", use);
        report.Figure("cut_off", "REQs cut off by the end of the run", unfinished, "", use);
        var perType = new StringBuilder("| type | filter | REQs | events/REQ | EOSE p50 | EOSE p99 | EOSE max | CLOSED |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
        foreach (var t in types)
        {
            var done = t.Latency.Count;
            var perReq = done == 0 ? double.NaN : (double)t.Events / done;
            report.Figure($"eose_{t.Key}_p50_us", $"[{t.Key}] time to EOSE p50", t.Latency.Percentile(50), "µs", use);
            report.Figure($"eose_{t.Key}_p99_us", $"[{t.Key}] time to EOSE p99", t.Latency.Percentile(99), "µs", use);
            report.Figure($"eose_{t.Key}_max_us", $"[{t.Key}] time to EOSE max", t.Latency.Max, "µs", use);
            report.Figure($"{t.Key}_reqs", $"[{t.Key}] REQs", done, "", use);
            report.Figure($"{t.Key}_events_per_req", $"[{t.Key}] events per REQ", perReq, "", use);
            perType.AppendLine(Common.Invariant($"| {t.Key} | {t.Label} | {done} | {perReq:F1} | {LatencyRecorder.Format(t.Latency.Percentile(50))} | {LatencyRecorder.Format(t.Latency.Percentile(99))} | {LatencyRecorder.Format(t.Latency.Max)} | {t.Failures} |"));
        }
        report.Cpu("", use);

        var seconds = timeline.Seconds.ToArray();
        Charts.Bars(report.ChartPath("eose-by-type.png"), "Time to EOSE by filter type", "ms", types.Select(t => t.Key).ToArray(),
        [
            ("p50", types.Select(t => t.Latency.Percentile(50) / 1000).ToArray()),
            ("p99", types.Select(t => t.Latency.Percentile(99) / 1000).ToArray()),
        ]);
        Charts.LatencyByPercentile(report.ChartPath("eose-latency.png"), "Time to EOSE", types.Select(t => (t.Key, t.Latency)));
        Charts.Lines(report.ChartPath("throughput.png"), "Query throughput", "seconds", "per second",
        [
            ("REQs/s", seconds, timeline.Series(0)),
            ("events/s ÷ 10", seconds, timeline.Series(1).Select(v => v / 10).ToArray()),
        ]);
        Charts.Cpu(report.ChartPath("cpu.png"), timeline);
        report.Chart("eose-by-type.png", "time to EOSE p50/p99 by filter type");
        report.Chart("eose-latency.png", "time to EOSE by percentile");
        report.Chart("throughput.png", "throughput over time");
        report.Chart("cpu.png", "CPU over time");
        var filters = new StringBuilder("| type | example filter |\n|---|---|\n");
        var example = new Random(0);
        foreach (var t in types)
        {
            var f = t.Filter(example);
            filters.Append("| ").Append(t.Key).Append(" | `").Append(f.Length > 160 ? f[..160] + "…" : f).AppendLine("` |");
        }
        report.Section("Per filter type", perType.ToString());
        report.Section("Filters", filters.ToString());
        report.Section("Errors", Common.Table(errors, "error"));
        report.Write();
        return 0;
    }
}
