using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// A client that stops reading must cost the relay a bounded amount, and never stall others.
public sealed class SlowReaderTests
{
    [Fact]
    public async Task A_reader_that_stops_taking_a_large_stored_answer_is_closed_and_frees_its_query_slot()
    {
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            MaxConcurrentQueries = 1,
            MaxSendQueueBytes = 256 * 1024,
            StalledReaderTimeout = TimeSpan.FromMilliseconds(500),
        });
        using var signer = EventSigner.Random();
        var padding = new string('x', 16 * 1024);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await using (var writer = new EventWriter(relay.Host.Database))
            await writer.WriteAsync(Enumerable.Range(0, 500).Select(i => signer.SignEvent(1, $"{i} {padding}", createdAt: now - i)).ToList());

        // About 8 MB of stored answer to a client that reads none of it: more than the socket
        // buffers and the send queue hold, so the query waits for space while holding the slot.
        await using var stalled = await RawWebSocket.OpenAsync(relay.Port);
        await stalled.SendTextAsync($"[\"REQ\",\"big\",{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":500}}]");
        await Task.Delay(300);

        // Another client needs the only query slot: it gets its answer once the stalled reader is closed.
        await using var client = await relay.ConnectAsync();
        var events = await client.QueryAsync("small", $"{{\"authors\":[\"{signer.Pubkey}\"],\"limit\":1}}");

        Assert.Single(events);
        Assert.Equal(1, relay.Host.Metrics.SlowReadersClosed.Value);
    }
}
