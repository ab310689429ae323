using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using Relay.LoadTests.Measure;
using Relay.LoadTests.Net;
using Relay.Storage.Model;

namespace Relay.LoadTests.Scenarios;

/// A live subscription that reads everything the relay pushes and measures delivery latency of
/// the publisher's events (fanout, slowreader's healthy readers).
internal sealed class LiveSubscriber(RelayConnection conn, bool matching, int maxEvents)
{
    private readonly BitArray _seen = new(maxEvents);

    public RelayConnection Connection { get; } = conn;
    public bool Matching { get; } = matching;
    public long Delivered;
    public long Duplicates;
    public string? Ended;

    /// Reads until cancelled or closed; delivered events of the run go to the shared counters.
    public async Task ReadAsync(LivePublisher publisher, LatencyRecorder latency, CancellationToken ct)
    {
        try
        {
            while (await Connection.ReceiveAsync(ct).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                if (!RelayMessage.TryParse(Connection.Message, out var m) || m.Type != RelayMessageType.Event) continue;
                var seq = RelayMessage.LeadingNumberOfContent(Connection.Message[m.EventOffset..]);
                if (seq < 0 || seq >= maxEvents) { Interlocked.Increment(ref publisher.Foreign); continue; }
                if (!Matching) { Interlocked.Increment(ref publisher.Unexpected); continue; }
                lock (_seen)
                {
                    if (_seen[(int)seq]) { Duplicates++; Interlocked.Increment(ref publisher.DuplicateDeliveries); continue; }
                    _seen[(int)seq] = true;
                }
                var sent = Volatile.Read(ref publisher.SendTicks[seq]);
                if (sent != 0) latency.RecordMicros(LatencyRecorder.ElapsedMicros(sent, now));
                Interlocked.Increment(ref Delivered);
                Interlocked.Increment(ref publisher.Delivered);
            }
            Ended = $"close frame {(int?)Connection.CloseStatus} \"{Connection.CloseStatusDescription}\"";
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            Ended = "error: " + Common.Describe(e);
        }
    }
}

/// Publishes kind-1 events tagged ["t", runTag] at a steady rate, event i on connection i mod n
/// (several relay processes: a publisher on each). The content starts with the event's sequence number; the Stopwatch timestamp taken just before each send is kept in
/// <see cref="SendTicks"/> by that number, so subscribers measure send → receipt without the
/// signing time (signing happens before the timestamp) and without clock skew (same process).
internal sealed class LivePublisher(IReadOnlyList<RelayConnection> conns, string runTag, int maxEvents, string padding = "")
{
    private readonly ConcurrentDictionary<string, long> _pendingOk = new(StringComparer.Ordinal);

    public long[] SendTicks { get; } = new long[maxEvents];
    public LatencyRecorder OkLatency { get; } = new();
    public ConcurrentDictionary<string, int> Rejections { get; } = new();
    public long Published;
    public long Accepted;
    public long Rejected;
    public long Delivered;
    public long DuplicateDeliveries;
    public long Unexpected;
    public long Foreign;
    public string? Ended;

    /// Filter that matches the publisher's events (and, via since, nothing stored).
    /// Publishes at <paramref name="rate"/> for at most <paramref name="duration"/> s (+5), then
    /// waits up to <paramref name="grace"/> s for every OK and for <paramref name="readers"/>
    /// deliveries of each accepted event. Returns the publishing time in seconds.
    public async Task<double> PublishThenAwaitDeliveriesAsync(double rate, int maxEvents, double duration, double grace, int readers,
        Func<double> elapsedSeconds, CancellationToken ct)
    {
        using (var publishCts = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            publishCts.CancelAfter(TimeSpan.FromSeconds(duration + 5));
            await PublishAsync(rate, maxEvents, publishCts.Token);
        }
        var publishSeconds = elapsedSeconds();
        var graceUntil = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(grace * System.Diagnostics.Stopwatch.Frequency);
        while (System.Diagnostics.Stopwatch.GetTimestamp() < graceUntil && !ct.IsCancellationRequested
               && (Interlocked.Read(ref Accepted) + Interlocked.Read(ref Rejected) < Published
                   || Interlocked.Read(ref Delivered) < readers * Interlocked.Read(ref Accepted)))
            await Task.Delay(20, CancellationToken.None);
        return publishSeconds;
    }

    public string MatchingFilter(long since) => $"{{\"kinds\":[1],\"#t\":[\"{runTag}\"],\"since\":{since}}}";

    public Task ReadOksAsync(CancellationToken ct) => Task.WhenAll(conns.Select(c => ReadOksAsync(c, ct)));

    private async Task ReadOksAsync(RelayConnection conn, CancellationToken ct)
    {
        try
        {
            while (await conn.ReceiveAsync(ct).ConfigureAwait(false))
            {
                if (!RelayMessage.TryParse(conn.Message, out var m) || m.Type != RelayMessageType.Ok) continue;
                if (_pendingOk.TryRemove(Encoding.ASCII.GetString(m.Key), out var t0)) OkLatency.RecordSince(t0);
                if (m.Accepted) Interlocked.Increment(ref Accepted);
                else { Interlocked.Increment(ref Rejected); Common.Count(Rejections, m.Text); }
            }
            Ended = $"close frame {(int?)conn.CloseStatus} \"{conn.CloseStatusDescription}\"";
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            Ended = "error: " + Common.Describe(e);
        }
    }

    /// Sends `count` events at `rate` per second (catching up in bursts if a send was late).
    public async Task PublishAsync(double rate, int count, CancellationToken ct)
    {
        using var signer = EventSigner.FromSeed("loadtest-publisher");
        string[][] tags = [["t", runTag]];
        var start = Stopwatch.GetTimestamp();
        var prefix = "[\"EVENT\","u8.ToArray();
        try
        {
            for (var i = 0; i < count && i < maxEvents && !ct.IsCancellationRequested; i++)
            {
                var due = start + (long)(i * Stopwatch.Frequency / rate);
                var wait = due - Stopwatch.GetTimestamp();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), ct).ConfigureAwait(false);
                var json = signer.SignUtf8(1, $"{i} {runTag} load test{padding}", tags, Common.UnixNow());
                var frame = new byte[prefix.Length + json.Length + 1];
                prefix.CopyTo(frame, 0);
                json.CopyTo(frame, prefix.Length);
                frame[^1] = (byte)']';
                var id = Encoding.ASCII.GetString(json, 7, 64);
                var t = Stopwatch.GetTimestamp();
                Volatile.Write(ref SendTicks[i], t);
                _pendingOk[id] = t;
                await conns[i % conns.Count].SendAsync(frame, ct).ConfigureAwait(false);
                Interlocked.Increment(ref Published);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is WebSocketException or IOException)
        {
            Ended = "send error: " + Common.Describe(e);
        }
    }

    /// Random printable padding so events reach a target size (not compressible runs of one byte).
    public static string Padding(int bytes)
    {
        if (bytes <= 0) return "";
        var rng = new Random(7);
        var chars = new char[bytes + 1];
        chars[0] = ' ';
        for (var i = 1; i < chars.Length; i++) chars[i] = (char)('a' + rng.Next(26));
        return new string(chars);
    }
}
