using Microsoft.Extensions.Logging.Abstractions;
using Relay.Server;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// Graceful stop (as on SIGTERM): open WebSockets get close 1001; what was acknowledged stays stored.
public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_the_relay_closes_open_WebSockets_with_1001()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);
        await ws.SendTextAsync("""["REQ","s",{"limit":0}]""");
        Assert.Equal("EOSE", (await ws.ReadMessageAsync())[0].GetString());

        var stopping = relay.StopAsync();
        var close = await ws.ReadCloseAsync();
        await ws.SendCloseAsync(1001);
        await stopping.WaitAsync(RawWebSocket.Timeout);

        Assert.NotNull(close);
        Assert.Equal(1001, close.CloseCode);
    }

    [Fact]
    public async Task Events_acknowledged_before_a_stop_are_served_after_a_restart()
    {
        await using var relay = await TestRelay.StartAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 20).Select(i => s.Sign(1, $"before stop {i}")).ToArray();
        await using (var client = await relay.ConnectAsync()) await client.PublishAcceptedAsync(events);
        await relay.StopAsync();

        await using var second = await RelayHost.StartAsync(relay.Options, NullLoggerFactory.Instance);
        await using var again = await RelayClient.ConnectAsync(new Uri($"ws://127.0.0.1:{second.Port}"));
        var ids = await again.QueryIdsAsync("s", $$"""{"authors":["{{s.Pubkey}}"]}""");

        Assert.Equal(events.Select(IdOf).ToHashSet(), ids.ToHashSet());
    }

    [Fact]
    public async Task A_second_relay_on_a_port_already_in_use_fails_to_start_instead_of_sharing_it()
    {
        await using var first = await TestRelay.StartAsync();

        var e = await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(() =>
            TestRelay.StartAsync(o => o with { Port = first.Port }, sharedDatabase: first.Database));
        Assert.Equal(System.Net.Sockets.SocketError.AddressAlreadyInUse, e.SocketErrorCode);

        // The first relay still serves every connection.
        await using var client = await first.ConnectAsync();
        using var signer = EventSigner.Random();
        Assert.True((await client.PublishAsync(signer.Sign(1, "still here"))).Accepted);
    }
}
