using System.Collections.Concurrent;
using Relay.Server.Ingest;
using Relay.Server.Policies;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Ingest;

/// The ingest path without a socket, as `relay import` uses it: the same policies, dedupe,
/// verification and batched write, answered through IEventSource.
public sealed class EventIngesterTests
{
    private sealed class CollectingSource : IEventSource
    {
        public readonly ConcurrentDictionary<string, (bool Accepted, string Message)> Answers = new();
        public readonly ConcurrentQueue<(string Id, bool Accepted, string Message)> InOrder = new();
        public ConnectionSession Session { get; } = ConnectionSession.Internal();
        public CancellationToken Aborted => CancellationToken.None;
        public void Answer(string eventId, bool accepted, string message)
        {
            InOrder.Enqueue((eventId, accepted, message));
            Answers[eventId] = (accepted, message);
        }

        public async Task<(bool Accepted, string Message)> WaitForAsync(string id)
        {
            for (var i = 0; i < 400 && !Answers.ContainsKey(id); i++) await Task.Delay(25);
            return Answers.TryGetValue(id, out var a) ? a : throw new TimeoutException($"no answer for {id}");
        }
    }

    [Fact]
    public async Task Events_submitted_without_a_socket_are_checked_verified_stored_and_answered()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxContentLength = 20 });
        var source = new CollectingSource();
        using var s = EventSigner.Random();
        var good = s.SignEvent(1, "imported");
        var tooLong = s.SignEvent(1, "far more than twenty bytes of content");
        var forged = EventParser.TryParse(System.Text.Encoding.UTF8.GetBytes(
            RelayClientExtensions.FlipHexChar(s.Sign(1, "forged"), "sig")), out _)!;

        foreach (var e in new[] { good, tooLong, forged, good }) await relay.Host.Ingester.SubmitAsync(source, e);

        await source.WaitForAsync(good.Id);
        for (var i = 0; i < 400 && source.InOrder.Count(a => a.Id == good.Id) < 2; i++) await Task.Delay(25);
        // The first copy is stored; the second, sent while the first was in flight, is a duplicate.
        Assert.Equal([(good.Id, true, ""), (good.Id, true, EventIngester.DuplicateMessage)], source.InOrder.Where(a => a.Id == good.Id));
        Assert.StartsWith("invalid: content", (await source.WaitForAsync(tooLong.Id)).Message);
        Assert.Equal((false, "invalid: bad signature"), await source.WaitForAsync(forged.Id));
        await using var client = await relay.ConnectAsync();
        Assert.Equal([good.Id], await client.QueryIdsAsync("q", $$"""{"authors":["{{s.Pubkey}}"]}"""));
    }
}
