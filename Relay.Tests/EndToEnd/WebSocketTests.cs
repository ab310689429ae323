using System.Text;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// RFC 6455 on the wire, from a hand-written client: the opening handshake, framing rules,
/// control frames, close codes and size limits.
public sealed class WebSocketTests
{
    private static string Head(int port, params string[] headers) =>
        $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{string.Concat(headers.Select(h => h + "\r\n"))}\r\n";

    private static async Task AssertClosedWithAsync(RawWebSocket ws, int code)
    {
        var close = await ws.ReadCloseAsync();
        Assert.NotNull(close);
        Assert.False(close.Masked, "server frames must not be masked");
        Assert.Equal(code, close.CloseCode);
        Assert.True(await ws.WaitForEndAsync(RawWebSocket.Timeout), "relay kept the TCP connection open after its close frame");
    }

    private static async Task AssertPingAnsweredAsync(RawWebSocket ws, byte[] payload)
    {
        await ws.SendFrameAsync(RawFrame.Ping, payload);
        var pong = await ws.ReadFrameAsync();
        Assert.NotNull(pong);
        Assert.Equal(RawFrame.Pong, pong.Opcode);
        Assert.True(pong.Fin);
        Assert.False(pong.Masked);
        Assert.Equal(payload, pong.Payload);
    }

    [Fact]
    public void Test_client_computes_the_RFC_6455_sample_accept_value()
    {
        Assert.Equal(RawWebSocket.SampleAccept, RawWebSocket.AcceptFor(RawWebSocket.SampleKey));
    }

    [Fact]
    public async Task Handshake_answers_101_with_the_right_Sec_WebSocket_Accept()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.ConnectTcpAsync(relay.Port);

        await ws.SendAsync(RawWebSocket.UpgradeRequest(relay.Port, RawWebSocket.SampleKey));
        var head = await ws.ReadHttpHeadAsync();

        Assert.Equal(101, head.Status);
        Assert.Equal(RawWebSocket.SampleAccept, head.Header("Sec-WebSocket-Accept"));
        Assert.Equal("websocket", head.Header("Upgrade"), ignoreCase: true);
        Assert.Contains("upgrade", head.Header("Connection") ?? "", StringComparison.OrdinalIgnoreCase);
        await AssertPingAnsweredAsync(ws, "after handshake"u8.ToArray());
    }

    [Fact]
    public async Task Handshake_with_a_random_key_gets_the_accept_value_for_that_key()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.ConnectTcpAsync(relay.Port);
        var key = Convert.ToBase64String(Guid.NewGuid().ToByteArray());

        await ws.SendAsync(RawWebSocket.UpgradeRequest(relay.Port, key));
        var head = await ws.ReadHttpHeadAsync();

        Assert.Equal(101, head.Status);
        Assert.Equal(RawWebSocket.AcceptFor(key), head.Header("Sec-WebSocket-Accept"));
    }

    [Fact]
    public async Task Handshake_with_a_browser_style_Connection_list_and_mixed_case_upgrades()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.ConnectTcpAsync(relay.Port);

        await ws.SendAsync(Head(relay.Port, "upgrade: WebSocket", "connection: keep-alive, Upgrade",
            $"sec-websocket-key: {RawWebSocket.SampleKey}", "sec-websocket-version: 13", "Origin: https://example.com"));
        var head = await ws.ReadHttpHeadAsync();

        Assert.Equal(101, head.Status);
        Assert.Equal(RawWebSocket.SampleAccept, head.Header("Sec-WebSocket-Accept"));
    }

    [Fact]
    public async Task Frame_sent_in_the_same_write_as_the_handshake_is_answered()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.ConnectTcpAsync(relay.Port);

        await ws.SendAsync([.. Encoding.ASCII.GetBytes(RawWebSocket.UpgradeRequest(relay.Port)),
                            .. RawWebSocket.Frame(RawFrame.Text, """["REQ","early",{"limit":0}]"""u8)]);
        var head = await ws.ReadHttpHeadAsync();
        var eose = await ws.ReadMessageAsync();

        Assert.Equal(101, head.Status);
        Assert.Equal("""["EOSE","early"]""", eose.GetRawText());
    }

    [Fact]
    public async Task Handshake_without_a_key_gets_400()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.SendAsync(relay.Port,
            Head(relay.Port, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"));

        Assert.Equal(400, response.Status);
    }

    [Fact]
    public async Task Handshake_with_a_key_that_is_not_16_bytes_of_base64_gets_400()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.SendAsync(relay.Port,
            Head(relay.Port, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"));

        Assert.Equal(400, response.Status);
    }

    [Fact]
    public async Task Handshake_with_version_8_gets_426_naming_version_13()
    {
        await using var relay = await TestRelay.StartAsync();

        var response = await RawHttp.SendAsync(relay.Port, RawWebSocket.UpgradeRequest(relay.Port, version: "8"));

        Assert.Equal(426, response.Status);
        Assert.Equal("13", response.Head.Header("Sec-WebSocket-Version"));
    }

    [Fact]
    public async Task Request_head_split_into_one_byte_writes_still_upgrades()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.ConnectTcpAsync(relay.Port);

        foreach (var b in Encoding.ASCII.GetBytes(RawWebSocket.UpgradeRequest(relay.Port))) await ws.SendAsync([b]);
        var head = await ws.ReadHttpHeadAsync();

        Assert.Equal(101, head.Status);
        Assert.Equal(RawWebSocket.SampleAccept, head.Header("Sec-WebSocket-Accept"));
        await AssertPingAnsweredAsync(ws, [1, 2, 3]);
    }

    [Fact]
    public async Task Frame_split_into_one_byte_writes_is_reassembled()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);
        using var s = EventSigner.Random();
        var json = s.Sign(1, "one byte at a time");

        foreach (var b in RawWebSocket.Frame(RawFrame.Text, Encoding.UTF8.GetBytes($"[\"EVENT\",{json}]"))) await ws.SendAsync([b]);
        var ok = await ws.ReadMessageAsync();

        Assert.Equal("OK", ok[0].GetString());
        Assert.Equal(IdOf(json), ok[1].GetString());
        Assert.True(ok[2].GetBoolean(), ok[3].GetString());
    }

    [Fact]
    public async Task Several_frames_in_one_write_are_each_answered_in_order()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        // Answered off the receive loop, in parallel: still in the order the REQs came.
        var names = Enumerable.Range(0, 20).Select(i => $"s{i}").ToArray();
        var frames = new List<byte>();
        foreach (var name in names)
        {
            frames.AddRange(RawWebSocket.Frame(RawFrame.Text, Encoding.UTF8.GetBytes($$"""["REQ","{{name}}",{"limit":0}]""")));
            if (name == "s0") frames.AddRange(RawWebSocket.Frame(RawFrame.Ping, "p"u8));
        }
        await ws.SendAsync(frames.ToArray());
        var answers = new List<string>();
        foreach (var _ in names) answers.Add((await ws.ReadMessageAsync()).GetRawText());

        Assert.Equal(names.Select(n => $"""["EOSE","{n}"]"""), answers);
    }

    [Fact]
    public async Task Ping_gets_a_pong_with_the_same_payload()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await AssertPingAnsweredAsync(ws, "hello relay"u8.ToArray());
        await AssertPingAnsweredAsync(ws, []);
        await AssertPingAnsweredAsync(ws, Enumerable.Range(0, 125).Select(i => (byte)i).ToArray());
    }

    [Fact]
    public async Task Unsolicited_pong_is_ignored()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Pong, "heartbeat"u8);
        await AssertPingAnsweredAsync(ws, "still open"u8.ToArray());
    }

    [Fact]
    public async Task Unmasked_frame_is_closed_with_1002()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Text, """["REQ","s",{}]"""u8, masked: false);

        await AssertClosedWithAsync(ws, 1002);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Frame_with_a_reserved_bit_is_closed_with_1002(int rsv)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Text, """["REQ","s",{}]"""u8, rsv: rsv);

        await AssertClosedWithAsync(ws, 1002);
    }

    public static TheoryData<string, byte[]> ProtocolViolations => new()
    {
        { "unknown opcode 3", RawWebSocket.Frame(3, "x"u8) },
        { "unknown control opcode 0xB", RawWebSocket.Frame(0xB, "x"u8) },
        { "continuation without a message", RawWebSocket.Frame(RawFrame.Continuation, "x"u8) },
        { "new text message inside a fragmented one", [.. RawWebSocket.Frame(RawFrame.Text, "[\"RE"u8, fin: false), .. RawWebSocket.Frame(RawFrame.Text, "x"u8)] },
        { "fragmented ping", RawWebSocket.Frame(RawFrame.Ping, "x"u8, fin: false) },
        { "ping of 126 bytes", RawWebSocket.Frame(RawFrame.Ping, new byte[126]) },
        { "close with a one-byte payload", RawWebSocket.Frame(RawFrame.Close, [3]) },
    };

    [Theory]
    [MemberData(nameof(ProtocolViolations))]
    public async Task Framing_violation_is_closed_with_1002(string name, byte[] frames)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendAsync(frames);

        var close = await ws.ReadCloseAsync();
        Assert.True(close?.CloseCode == 1002, $"{name}: expected close 1002, got {close?.CloseCode.ToString() ?? "no close frame"}");
    }

    [Fact]
    public async Task Text_message_that_is_not_UTF8_is_closed_with_1007()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        // ["<C3 28>"]: a lead byte followed by a non-continuation byte.
        await ws.SendFrameAsync(RawFrame.Text, [(byte)'[', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)']']);

        await AssertClosedWithAsync(ws, 1007);
    }

    [Fact]
    public async Task Fragmented_text_message_that_is_not_UTF8_is_closed_with_1007()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        // A valid character split across fragments is fine; this one has its continuation byte replaced.
        await ws.SendAsync([.. RawWebSocket.Frame(RawFrame.Text, [(byte)'[', (byte)'"', 0xE2, 0x82], fin: false),
                            .. RawWebSocket.Frame(RawFrame.Continuation, [(byte)'A', (byte)'"', (byte)']'])]);

        await AssertClosedWithAsync(ws, 1007);
    }

    [Fact]
    public async Task Character_split_across_fragments_is_valid_UTF8()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        // ["REQ","€",{"limit":0}] with the three bytes of € (E2 82 AC) split between fragments.
        var message = Encoding.UTF8.GetBytes("""["REQ","€",{"limit":0}]""");
        var cut = Array.IndexOf(message, (byte)0xE2) + 1;
        await ws.SendAsync([.. RawWebSocket.Frame(RawFrame.Text, message.AsSpan(0, cut), fin: false),
                            .. RawWebSocket.Frame(RawFrame.Continuation, message.AsSpan(cut))]);

        var eose = await ws.ReadMessageAsync();
        Assert.Equal("EOSE", eose[0].GetString());
        Assert.Equal("€", eose[1].GetString());
    }

    [Fact]
    public async Task Message_larger_than_MaxMessageBytes_is_closed_with_1009_before_its_body_is_sent()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxMessageBytes = 4096 });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendAsync(RawWebSocket.HeaderOnly(RawFrame.Text, 1_000_000));

        await AssertClosedWithAsync(ws, 1009);
    }

    [Fact]
    public async Task Fragmented_message_growing_past_MaxMessageBytes_is_closed_with_1009()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxMessageBytes = 4096 });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Text, new byte[3000], fin: false);
        await ws.SendAsync(RawWebSocket.HeaderOnly(RawFrame.Continuation, 3000));

        await AssertClosedWithAsync(ws, 1009);
    }

    [Fact]
    public async Task Message_of_exactly_MaxMessageBytes_is_accepted()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxMessageBytes = 4096 });
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        var message = """["REQ","big",{"limit":0}]""".PadRight(4096);   // JSON allows trailing whitespace
        await ws.SendTextAsync(message);

        var eose = await ws.ReadMessageAsync();
        Assert.Equal("EOSE", eose[0].GetString());
        Assert.Equal("big", eose[1].GetString());
    }

    [Fact]
    public async Task Fragmented_message_with_an_interleaved_ping_gets_the_pong_then_the_OK()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);
        using var s = EventSigner.Random();
        var json = s.Sign(1, "sent in three fragments");
        var message = Encoding.UTF8.GetBytes($"[\"EVENT\",{json}]");
        var third = message.Length / 3;

        await ws.SendFrameAsync(RawFrame.Text, message.AsSpan(0, third), fin: false);
        await ws.SendFrameAsync(RawFrame.Ping, "mid-message"u8);
        await ws.SendFrameAsync(RawFrame.Continuation, message.AsSpan(third, third), fin: false);
        await ws.SendFrameAsync(RawFrame.Continuation, message.AsSpan(2 * third), fin: true);

        var pong = await ws.ReadFrameAsync();
        Assert.NotNull(pong);
        Assert.Equal(RawFrame.Pong, pong.Opcode);
        Assert.Equal("mid-message"u8.ToArray(), pong.Payload);
        var ok = await ws.ReadMessageAsync();
        Assert.Equal("OK", ok[0].GetString());
        Assert.Equal(IdOf(json), ok[1].GetString());
        Assert.True(ok[2].GetBoolean(), ok[3].GetString());
    }

    [Fact]
    public async Task Client_close_1000_is_echoed_with_1000()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendCloseAsync(1000, "done");

        await AssertClosedWithAsync(ws, 1000);
    }

    [Theory]
    [InlineData(1001)]
    [InlineData(3000)]
    [InlineData(4999)]
    public async Task Client_close_with_a_valid_code_is_echoed(int code)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendCloseAsync(code);

        await AssertClosedWithAsync(ws, code);
    }

    [Fact]
    public async Task Client_close_without_a_payload_is_answered_with_a_close()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Close, []);

        var close = await ws.ReadCloseAsync();
        Assert.NotNull(close);
        Assert.True(close.CloseCode is null or 1000, $"unexpected close code {close.CloseCode}");
        Assert.True(await ws.WaitForEndAsync(RawWebSocket.Timeout));
    }

    [Theory]
    [InlineData(999)]
    [InlineData(1004)]
    [InlineData(1005)]
    [InlineData(1006)]
    [InlineData(1015)]
    [InlineData(2999)]
    [InlineData(5000)]
    public async Task Client_close_with_an_invalid_code_is_answered_with_1002(int code)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendCloseAsync(code);

        await AssertClosedWithAsync(ws, 1002);
    }

    [Fact]
    public async Task Client_close_with_a_reason_that_is_not_UTF8_is_answered_with_1007()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);

        await ws.SendFrameAsync(RawFrame.Close, [0x03, 0xE8, 0xFF, 0xFE]);

        await AssertClosedWithAsync(ws, 1007);
    }
}
