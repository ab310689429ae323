using System.Globalization;
using System.Net.WebSockets;
using Relay.LoadTests.Cli;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;

namespace Relay.LoadTests.Scenarios;

/// Pieces every network scenario shares.
internal static class Common
{
    public static Uri Url(Args args) => Target.Parse(args.String("url", Target.DefaultUrl));

    /// --url with several relay processes, comma-separated (fanout across processes).
    public static Uri[] Urls(Args args) => args.String("url", Target.DefaultUrl).Split(',', StringSplitOptions.TrimEntries).Select(Target.Parse).ToArray();

    /// --pid (comma-separated, one per --url) and the like: processes whose CPU is read from /proc.
    public static int[] Pids(Args args, string name = "pid")
    {
        var pids = args.String(name, "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(p => int.TryParse(p, out var pid) && pid > 0 ? pid : throw new UsageException($"--{name}: '{p}' is not a process id")).ToArray();
        foreach (var p in pids)
            if (!ProcFs.Exists(p)) throw new UsageException($"--{name}: no process {p}");
        return pids;
    }

    /// --pid: the relay process whose CPU and RSS are read from /proc.
    public static int? Pid(Args args, bool required = false, string? why = null)
    {
        var pid = args.OptionalInt("pid", 1);
        if (pid is null && required) throw new UsageException($"--pid <relay pid> is required: {why}");
        if (pid is { } p && !ProcFs.Exists(p)) throw new UsageException($"--pid: no process {p}");
        return pid;
    }

    /// A random 32-byte hex string (a pubkey nobody has, a run tag nobody used).
    public static string RandomHex(int bytes = 32) => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes));

    public static long UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    public static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    /// Opens a connection, sends one REQ and reads until its EOSE (counting stored events).
    /// Returns the connection (ready for its receive loop) or throws.
    public static async Task<(RelayConnection Conn, long ConnectMicros, long EoseMicros, int Stored)> OpenAndSubscribeAsync(
        Uri url, string subId, string filterJson, CancellationToken ct, int bufferBytes = 8192, bool trackLocalPort = false)
    {
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var conn = await RelayConnection.OpenAsync(url, ct, bufferBytes, trackLocalPort).ConfigureAwait(false);
        try
        {
            var t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            await conn.SendAsync(Utf8($"[\"REQ\",\"{subId}\",{filterJson}]"), ct).ConfigureAwait(false);
            var stored = 0;
            while (true)
            {
                if (!await conn.ReceiveAsync(ct).ConfigureAwait(false))
                    throw new WebSocketException($"closed before EOSE: {(int?)conn.CloseStatus} {conn.CloseStatusDescription}");
                if (!RelayMessage.TryParse(conn.Message, out var m)) continue;
                if (m.Type == RelayMessageType.Event) stored++;
                else if (m.Type == RelayMessageType.Eose) break;
                else if (m.Type == RelayMessageType.Closed) throw new WebSocketException($"CLOSED before EOSE: {m.Text}");
            }
            var t2 = System.Diagnostics.Stopwatch.GetTimestamp();
            return (conn, LatencyRecorder.ElapsedMicros(t0, t1), LatencyRecorder.ElapsedMicros(t1, t2), stored);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    /// Closes many connections, a few hundred at a time.
    public static async Task CloseAllAsync(IEnumerable<RelayConnection> connections)
    {
        await Parallel.ForEachAsync(connections, new ParallelOptions { MaxDegreeOfParallelism = 256 },
            async (c, _) => await c.CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// Counts distinct messages (rejection reasons, errors), keeping the text short.
    public static void Count(System.Collections.Concurrent.ConcurrentDictionary<string, int> counts, string? text)
    {
        var key = string.IsNullOrEmpty(text) ? "(no message)" : text.Length > 120 ? text[..120] + "…" : text;
        counts.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    public static string Table(System.Collections.Concurrent.ConcurrentDictionary<string, int> counts, string header, int top = 15)
    {
        if (counts.IsEmpty) return "none";
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(Invariant($"| {header} | count |")).AppendLine("|---|---:|");
        foreach (var (k, v) in counts.OrderByDescending(kv => kv.Value).Take(top))
            sb.AppendLine(Invariant($"| {k.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ")} | {v} |"));
        return sb.ToString();
    }

    public static string Describe(Exception e) => e switch
    {
        WebSocketException w when w.InnerException is { } inner => $"{w.Message} ({inner.Message})",
        AggregateException a when a.InnerException is { } inner => Describe(inner),
        _ => e.Message,
    };
}
