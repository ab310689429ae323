using System.Collections.Concurrent;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Faults;

/// The relay process killed or stopped while clients publish as fast as they can: every event
/// that got OK true is in the database afterwards, whatever the signal.
public sealed class ProcessFaultTests
{
    private const int Events = 5000;

    /// One client sends <see cref="Events"/> EVENTs without waiting; when <paramref name="signalAfter"/>
    /// OK trues have come back, the relay gets <paramref name="signal"/>. Returns the ids answered
    /// OK true and how the connection ended.
    private static async Task<(List<string> Acked, int Answers, System.Net.WebSockets.WebSocketCloseStatus? Close)> PublishAndSignalAsync(
        RelayProcess relay, EventSigner signer, int signalAfter, string signal)
    {
        var events = Enumerable.Range(0, Events).Select(i => signer.Sign(1, $"event {i} {Guid.NewGuid()}")).ToList();
        await using var client = await relay.ConnectAsync();
        var acked = new ConcurrentQueue<string>();
        var answers = 0;
        var signalled = 0;
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await client.ReceiveAsync(TimeSpan.FromSeconds(20)) is { } m)
                {
                    if (m[0].GetString() != "OK") continue;
                    answers++;
                    if (m[2].GetBoolean()) acked.Enqueue(m[1].GetString()!);
                    if (acked.Count >= signalAfter && Interlocked.Exchange(ref signalled, 1) == 0) relay.Signal(signal);
                }
            }
            catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or OperationCanceledException or IOException) { }
        });
        try
        {
            foreach (var e in events) await client.SendEventAsync(e);
        }
        catch (Exception e) when (e is System.Net.WebSockets.WebSocketException or OperationCanceledException or IOException or ObjectDisposedException) { }
        await reading;
        Assert.Equal(1, signalled);
        return ([.. acked], answers, client.CloseStatus);
    }

    [Fact]
    public async Task After_kill_9_during_heavy_ingest_every_acknowledged_event_is_stored()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var signer = EventSigner.Random();
        for (var run = 0; run < 3; run++)
        {
            await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string> { ["DATABASE_URL"] = db.Url });
            var (acked, _, _) = await PublishAndSignalAsync(relay, signer, signalAfter: 300 + 400 * run, "KILL");
            Assert.NotNull(await relay.ExitCodeAsync(TimeSpan.FromSeconds(10)));
            Assert.InRange(acked.Count, 300 + 400 * run, Events - 1);   // the kill landed in the middle of the load
            Assert.Equal(acked.Count, (await FaultDatabase.StoredIdsAsync(db.Url)).Count(acked.Contains));
        }
    }

    [Fact]
    public async Task SIGTERM_under_load_answers_what_it_read_closes_with_1001_and_exits_0_in_time()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var signer = EventSigner.Random();
        await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string> { ["DATABASE_URL"] = db.Url });
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (acked, answers, close) = await PublishAndSignalAsync(relay, signer, signalAfter: 500, "TERM");
        Assert.Equal(0, await relay.ExitCodeAsync(TimeSpan.FromSeconds(15)));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"took {started.Elapsed}");
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, close);   // 1001 going away
        Assert.Equal(acked.Count, (await FaultDatabase.StoredIdsAsync(db.Url)).Count(acked.Contains));
        Assert.True(answers >= 500);
        Assert.Contains("Shutting down", relay.Log);
        Assert.DoesNotContain("Unhandled exception", relay.Log);
    }
}
