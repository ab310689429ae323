using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

public sealed class SmokeTests
{
    [Fact]
    public async Task Published_event_is_acknowledged_then_served_by_REQ()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "hello \"relay\"\n");

        var (accepted, message) = await client.PublishAsync(json);
        Assert.True(accepted, message);

        var events = await client.QueryAsync("s", $"{{\"authors\":[\"{signer.Pubkey}\"]}}");
        var e = Assert.Single(events);
        Assert.Equal("hello \"relay\"\n", e.GetProperty("content").GetString());
    }
}
