using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Relay.Server.WebSockets;

namespace Relay.Tests.WebSockets;

/// Server frames (unmasked, FIN set) and the handshake accept key.
public sealed class FrameWriterTests
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [Theory]
    [InlineData(0, new byte[] { 0x81, 0 })]
    [InlineData(125, new byte[] { 0x81, 125 })]
    [InlineData(126, new byte[] { 0x81, 126, 0, 126 })]
    [InlineData(65535, new byte[] { 0x81, 126, 0xFF, 0xFF })]
    [InlineData(65536, new byte[] { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0 })]
    [InlineData(int.MaxValue, new byte[] { 0x81, 127, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF })]
    public void Header_uses_the_shortest_length_encoding(int payloadLength, byte[] expected)
    {
        var dst = new byte[10];
        var n = FrameWriter.WriteHeader(dst, WebSocketOpcode.Text, payloadLength);
        Assert.Equal(expected.Length, n);
        Assert.Equal(expected.Length, FrameWriter.HeaderLength(payloadLength));
        Assert.Equal(expected, dst[..n]);
    }

    [Theory]
    [InlineData(0x1, 0x81)]   // text
    [InlineData(0x2, 0x82)]   // binary
    [InlineData(0x8, 0x88)]   // close
    [InlineData(0x9, 0x89)]   // ping
    [InlineData(0xA, 0x8A)]   // pong
    public void First_byte_is_FIN_plus_opcode_and_server_frames_are_not_masked(byte opcode, byte b0)
    {
        var frame = FrameWriter.Frame((WebSocketOpcode)opcode, "abc"u8);
        Assert.Equal(b0, frame[0]);
        Assert.Equal(0, frame[1] & 0x80);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(125)]
    [InlineData(126)]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(100_000)]
    public void Frame_carries_the_payload_after_its_header(int length)
    {
        var payload = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var frame = FrameWriter.Frame(WebSocketOpcode.Binary, payload);
        var h = FrameWriter.HeaderLength(length);
        Assert.Equal(h + length, frame.Length);
        Assert.Equal(payload, frame[h..]);
        var declared = h switch
        {
            2 => frame[1],
            4 => BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)),
            _ => (long)BinaryPrimitives.ReadUInt64BigEndian(frame.AsSpan(2)),
        };
        Assert.Equal(length, declared);
    }

    [Fact]
    public void Close_frame_carries_the_code_big_endian_then_the_reason()
    {
        var frame = FrameWriter.Close(CloseCodes.MessageTooBig, "too big");
        Assert.Equal(0x88, frame[0]);
        Assert.Equal(2 + 7, frame[1]);
        Assert.Equal(CloseCodes.MessageTooBig, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)));
        Assert.Equal("too big", Encoding.UTF8.GetString(frame.AsSpan(4)));

        Assert.Equal(new byte[] { 0x88, 2, 0x03, 0xE8 }, FrameWriter.Close(CloseCodes.Normal, ""));
    }

    [Theory]
    [InlineData("é")]          // 2-byte UTF-8
    [InlineData("中")]         // 3-byte
    [InlineData("😀")]         // 4-byte
    public void Long_multi_byte_reason_is_cut_to_125_bytes_on_a_character_boundary(string ch)
    {
        // Every ASCII prefix length 0..3 moves the 123-byte cut to a different place in the character.
        for (var prefix = 0; prefix < 4; prefix++)
        {
            var reason = new string('x', prefix) + string.Concat(Enumerable.Repeat(ch, 100));
            AssertCloseFrameIsValid(FrameWriter.Close(CloseCodes.PolicyViolation, reason), CloseCodes.PolicyViolation, reason);
        }
    }

    [Fact]
    public void Any_reason_gives_a_valid_close_frame()
    {
        Gen.String.Sample(reason => AssertCloseFrameIsValid(FrameWriter.Close(CloseCodes.InternalError, reason), CloseCodes.InternalError, reason));
    }

    private static void AssertCloseFrameIsValid(byte[] frame, ushort code, string reason)
    {
        Assert.Equal(0x88, frame[0]);
        var payloadLength = frame[1];
        Assert.True(payloadLength <= 125, $"payload {payloadLength} bytes");
        Assert.Equal(2 + payloadLength, frame.Length);
        Assert.Equal(code, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(2)));
        var sent = frame[4..];
        var text = StrictUtf8.GetString(sent);                       // throws on a cut character
        var full = Encoding.UTF8.GetBytes(reason);
        Assert.Equal(full[..sent.Length], sent);                        // a prefix of the reason
        if (full.Length <= 123) Assert.Equal(full, sent);               // short reasons are kept whole
        else Assert.True(sent.Length > 119, $"cut too early: {sent.Length} of {full.Length} bytes");
        Assert.Equal(text, StrictUtf8.GetString(full[..sent.Length]));
    }

    // ---- HandshakeKey (RFC 6455 §4.2.2) ----

    [Fact]
    public void Accept_key_for_the_RFC_example_matches()
    {
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", HandshakeKey.Accept("dGhlIHNhbXBsZSBub25jZQ=="u8));
    }

    [Fact]
    public void Key_of_16_random_bytes_in_base64_is_valid()
    {
        Assert.True(HandshakeKey.IsValid("dGhlIHNhbXBsZSBub25jZQ=="u8));
        Gen.Byte.Array[16].Sample(bytes => Assert.True(HandshakeKey.IsValid(Encoding.ASCII.GetBytes(Convert.ToBase64String(bytes)))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("dGhlIHNhbXBsZSBub25jZQ=")]                 // 23 characters
    [InlineData("dGhlIHNhbXBsZSBub25jZQ===")]               // 25 characters
    [InlineData("dGhlIHNhbXBsZSBub25jZQ== ")]
    [InlineData("dGhlIHNhbXBsZSBub25jZ!==")]                // not base64
    [InlineData("dGhlIHNhbXBsZSBub25jZQ-_")]                // base64url alphabet
    [InlineData("dGhlIHNhbXBsZSBub25jZQAB")]                // 24 characters but 18 bytes
    [InlineData("dGhlIHNhbXBsZSBub25j====")]                // bad padding
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // 30 bytes
    public void Key_that_is_not_base64_of_16_bytes_is_invalid(string key)
    {
        Assert.False(HandshakeKey.IsValid(Encoding.ASCII.GetBytes(key)));
    }
}
