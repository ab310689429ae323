using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// Connections that never finish the handshake, or go quiet, are closed by the relay; clients
/// that answer pings stay. Waits have generous timeouts: these check what happens, not how fast.
public sealed class TimeoutTests
{
    [Fact]
    public async Task Connection_that_sends_nothing_is_closed_after_the_handshake_timeout()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        await using var socket = await RawWebSocket.ConnectTcpAsync(relay.Port);

        Assert.True(await socket.WaitForEndAsync(TimeSpan.FromSeconds(10)), "connection still open 10 s after a 1 s handshake timeout");
    }

    [Fact]
    public async Task Connection_that_sends_half_a_request_head_is_closed_after_the_handshake_timeout()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        await using var socket = await RawWebSocket.ConnectTcpAsync(relay.Port);

        await socket.SendAsync("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");

        Assert.True(await socket.WaitForEndAsync(TimeSpan.FromSeconds(10)), "connection still open 10 s after a 1 s handshake timeout");
    }

    [Fact]
    public async Task Upgraded_connection_is_not_closed_by_the_handshake_timeout()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await relay.ConnectAsync();

        await Task.Delay(TimeSpan.FromSeconds(3));

        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "still connected"));
    }

    [Fact]
    public async Task Idle_WebSocket_is_closed_with_1001()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { IdleTimeout = TimeSpan.FromSeconds(5), PingInterval = TimeSpan.FromHours(1) });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        var close = await ws.ReadCloseAsync(timeout: TimeSpan.FromSeconds(30));

        Assert.NotNull(close);
        Assert.Equal(1001, close.CloseCode);
    }

    [Fact]
    public async Task Relay_pings_a_quiet_connection_every_PingInterval()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { PingInterval = TimeSpan.FromSeconds(1) });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        var ping = await ws.ReadFrameAsync(TimeSpan.FromSeconds(15));

        Assert.NotNull(ping);
        Assert.Equal(RawFrame.Ping, ping.Opcode);
        Assert.False(ping.Masked);
    }

    [Fact]
    public async Task Client_that_answers_pings_outlives_the_idle_timeout()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { IdleTimeout = TimeSpan.FromSeconds(3), PingInterval = TimeSpan.FromSeconds(1) });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        // For well past the idle timeout, send nothing but pongs to the relay's pings.
        var until = DateTime.UtcNow.AddSeconds(8);
        while (DateTime.UtcNow < until)
        {
            var frame = await ws.ReadFrameAsync();
            Assert.NotNull(frame);
            Assert.True(frame.Opcode == RawFrame.Ping, $"expected a ping, got opcode {frame.Opcode} (close code {frame.CloseCode})");
            await ws.SendFrameAsync(RawFrame.Pong, frame.Payload);
        }
        await ws.SendTextAsync("""["REQ","alive",{"limit":0}]""");
        var eose = await ws.ReadMessageAsync();

        Assert.Equal("EOSE", eose[0].GetString());
    }
}
