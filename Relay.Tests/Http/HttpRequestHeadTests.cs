using System.Buffers;
using System.Text;
using Relay.Server.Http;
using Relay.Tests.WebSockets;

namespace Relay.Tests.Http;

/// The request head a WebSocket client or a NIP-11 fetch sends before anything else.
public sealed class HttpRequestHeadTests
{
    private const string Upgrade =
        "GET /relay?x=1 HTTP/1.1\r\n" +
        "Host: relay.example.com\r\n" +
        "upgrade: websocket\r\n" +
        "Connection: keep-alive, Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version:13\r\n" +
        "Accept:   application/nostr+json  \r\n" +
        "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n" +
        "\r\n";

    private static (bool Done, HttpRequestHead? Head, long Consumed, HeadError Error) Parse(ReadOnlySequence<byte> input)
    {
        var done = HttpRequestHead.TryParse(input, out var head, out var consumed, out var error);
        return (done, head, consumed, error);
    }

    private static (bool Done, HttpRequestHead? Head, long Consumed, HeadError Error) Parse(string text) =>
        Parse(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)));

    [Fact]
    public void Complete_upgrade_request_is_parsed()
    {
        var (done, head, consumed, error) = Parse(Upgrade);
        Assert.True(done);
        Assert.Equal(HeadError.None, error);
        Assert.NotNull(head);
        Assert.Equal(Upgrade.Length, consumed);
        Assert.Equal("GET", head.Method);
        Assert.Equal("/relay?x=1", head.Path);
        Assert.Equal("websocket", head.Upgrade);
        Assert.Equal("keep-alive, Upgrade", head.Connection);
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", head.WebSocketKey);
        Assert.Equal("13", head.WebSocketVersion);
        Assert.Equal("application/nostr+json", head.Accept);
        Assert.Equal("203.0.113.7", head.ForwardedFor!.Split(',')[0].Trim());
        Assert.Equal("HTTP/1.1", head.Version);
        Assert.True(head.HasHost);
        Assert.Equal(1, head.WebSocketKeyCount);
        Assert.True(head.WantsWebSocket);
        Assert.True(head.WantsRelayInfo);
    }

    [Fact]
    public void Plain_GET_wants_neither_websocket_nor_relay_info()
    {
        var (done, head, _, error) = Parse("GET / HTTP/1.0\r\nHost: x\r\n\r\n");
        Assert.True(done);
        Assert.Equal(HeadError.None, error);
        Assert.NotNull(head);
        Assert.Null(head.Upgrade);
        Assert.Null(head.WebSocketKey);
        Assert.False(head.WantsWebSocket);
        Assert.False(head.WantsRelayInfo);
    }

    [Fact]
    public void Bytes_after_the_head_are_not_consumed()
    {
        var withFrame = Upgrade + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        var (done, head, consumed, _) = Parse(withFrame);
        Assert.True(done);
        Assert.NotNull(head);
        Assert.Equal(Upgrade.Length, consumed);
    }

    [Fact]
    public void Every_incomplete_prefix_needs_more_bytes()
    {
        var bytes = Encoding.Latin1.GetBytes(Upgrade);
        for (var n = 0; n < bytes.Length; n++)
        {
            var (done, head, consumed, error) = Parse(new ReadOnlySequence<byte>(bytes, 0, n));
            Assert.False(done, $"prefix of {n} bytes");
            Assert.Null(head);
            Assert.Equal(0, consumed);
            Assert.Equal(HeadError.None, error);
        }
    }

    [Fact]
    public void Head_split_across_segments_anywhere_is_parsed_the_same()
    {
        var bytes = Encoding.Latin1.GetBytes(Upgrade);
        for (var i = 0; i <= bytes.Length; i++)
            AssertUpgrade(MultiSegment.Split(bytes, i), $"cut at {i}");
        // The terminator itself in four segments.
        var t = bytes.Length - 4;
        AssertUpgrade(MultiSegment.Split(bytes, t, t + 1, t + 2, t + 3), "terminator split");
        AssertUpgrade(MultiSegment.Bytewise(bytes), "bytewise");

        static void AssertUpgrade(ReadOnlySequence<byte> seq, string what)
        {
            var (done, head, consumed, error) = Parse(seq);
            Assert.True(done, what);
            Assert.Equal(HeadError.None, error);
            Assert.NotNull(head);
            Assert.Equal(seq.Length, consumed);
            Assert.Equal("/relay?x=1", head.Path);
            Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", head.WebSocketKey);
            Assert.True(head.WantsWebSocket, what);
        }
    }

    [Fact]
    public void More_than_8_KiB_without_a_terminator_is_too_large()
    {
        var text = "GET / HTTP/1.1\r\nX-Junk: " + new string('a', HttpRequestHead.MaxHeadBytes);
        var (done, head, _, error) = Parse(text);
        Assert.True(done);
        Assert.Null(head);
        Assert.Equal(HeadError.TooLarge, error);
    }

    [Fact]
    public void Exactly_8_KiB_without_a_terminator_still_needs_more_bytes()
    {
        var text = "GET / HTTP/1.1\r\nX-Junk: ";
        text += new string('a', HttpRequestHead.MaxHeadBytes - text.Length);
        Assert.Equal(HttpRequestHead.MaxHeadBytes, text.Length);
        Assert.False(Parse(text).Done);
    }

    [Fact]
    public void Complete_head_over_8_KiB_is_too_large()
    {
        var text = "GET / HTTP/1.1\r\nX-Junk: " + new string('a', HttpRequestHead.MaxHeadBytes) + "\r\n\r\n";
        var (done, head, _, error) = Parse(text);
        Assert.True(done);
        Assert.Null(head);
        Assert.Equal(HeadError.TooLarge, error);
    }

    [Fact]
    public void Complete_head_of_exactly_8_KiB_is_accepted()
    {
        var text = HeadOfExactlyMaxBytes();
        var (done, head, _, error) = Parse(text + "\r\n\r\n");
        Assert.True(done);
        Assert.Equal(HeadError.None, error);
        Assert.NotNull(head);
    }

    [Fact]
    public void Head_at_the_size_limit_is_not_refused_while_its_terminator_is_still_arriving()
    {
        var text = HeadOfExactlyMaxBytes();
        // The same bytes as Complete_head_of_exactly_8_KiB_is_accepted, split by the network before the last "\r\n".
        var (done, _, _, error) = Parse(text + "\r\n");
        Assert.Equal(HeadError.None, error);
        Assert.False(done);
    }

    private static string HeadOfExactlyMaxBytes()
    {
        var text = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nX-Junk: ";
        return text + new string('a', HttpRequestHead.MaxHeadBytes - text.Length);
    }

    [Theory]
    [InlineData("HELLO\r\n\r\n")]
    [InlineData("GET /\r\n\r\n")]
    [InlineData("GET / HTTP/1.1 extra\r\n\r\n")]
    [InlineData("GET / HTTP/2.0\r\n\r\n")]
    [InlineData("GET / SPDY/1.1\r\n\r\n")]
    [InlineData(" / HTTP/1.1\r\n\r\n")]
    [InlineData("\r\n\r\n")]
    [InlineData("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")]   // a TLS ClientHello on the plain port
    [InlineData("GET / HTTP/1.1\r\nno colon here\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\n: empty name\r\n\r\n")]
    public void Garbage_is_malformed(string text)
    {
        var (done, head, consumed, error) = Parse(text);
        Assert.True(done);
        Assert.Null(head);
        Assert.Equal(HeadError.Malformed, error);
        Assert.Equal(text.Length, consumed);
    }
}
