using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Relay.Server.WebSockets;

namespace Relay.Tests.WebSockets;

/// RFC 6455 §5.2 client frame headers, whole and in pieces, and the §5.3 unmasking.
public sealed class FrameReaderTests
{
    private static readonly byte[] Mask = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client header: FIN + opcode byte, then the length in 7, 7+16 or 7+64 bits, then the mask.
    private static byte[] Header(byte b0, long length)
    {
        var bytes = new List<byte> { b0 };
        if (length < 126) bytes.Add((byte)(0x80 | length));
        else if (length <= ushort.MaxValue)
        {
            bytes.Add(0x80 | 126);
            bytes.AddRange([(byte)(length >> 8), (byte)length]);
        }
        else
        {
            bytes.Add(0x80 | 127);
            var ext = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(ext, (ulong)length);
            bytes.AddRange(ext);
        }
        bytes.AddRange(Mask);
        return [.. bytes];
    }

    private static FrameHeader ReadOk(ReadOnlySpan<byte> bytes)
    {
        Assert.True(FrameReader.TryReadHeader(bytes, out var h, out var error));
        Assert.Equal(FrameError.None, error);
        return h;
    }

    private static FrameError ReadError(byte[] bytes)
    {
        Assert.True(FrameReader.TryReadHeader(bytes, out _, out var error));
        Assert.True(FrameReader.TryReadHeader(MultiSegment.Bytewise(bytes), out _, out var seqError));
        Assert.Equal(error, seqError);
        return error;
    }

    [Fact]
    public void Rfc_example_masked_Hello_is_read_and_unmasked()
    {
        // RFC 6455 §5.7: a single-frame masked text message containing "Hello".
        byte[] frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        var h = ReadOk(frame);
        Assert.True(h.Fin);
        Assert.Equal(WebSocketOpcode.Text, h.Opcode);
        Assert.True(h.Masked);
        Assert.False(h.IsControl);
        Assert.Equal(5, h.PayloadLength);
        Assert.Equal(6, h.HeaderLength);
        var payload = frame[h.HeaderLength..];
        FrameReader.Unmask(payload, h.MaskKey, 0);
        Assert.Equal("Hello", Encoding.ASCII.GetString(payload));
    }

    [Theory]
    [InlineData(0, 6)]
    [InlineData(1, 6)]
    [InlineData(125, 6)]
    [InlineData(126, 8)]
    [InlineData(65535, 8)]
    [InlineData(65536, 14)]
    [InlineData(4_294_967_296L, 14)]
    [InlineData(long.MaxValue, 14)]
    public void Length_is_read_from_the_7_16_or_64_bit_field(long length, int headerLength)
    {
        var h = ReadOk(Header(0x82, length));
        Assert.Equal(length, h.PayloadLength);
        Assert.Equal(headerLength, h.HeaderLength);
        Assert.Equal(WebSocketOpcode.Binary, h.Opcode);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(Mask), h.MaskKey);
    }

    [Fact]
    public void Fin_clear_on_a_data_frame_is_a_fragment_not_an_error()
    {
        var h = ReadOk(Header(0x01, 10));
        Assert.False(h.Fin);
        Assert.Equal(WebSocketOpcode.Text, h.Opcode);
        h = ReadOk(Header(0x80, 10));
        Assert.Equal(WebSocketOpcode.Continuation, h.Opcode);
    }

    [Theory]
    [InlineData(0x88)]   // close
    [InlineData(0x89)]   // ping
    [InlineData(0x8A)]   // pong
    public void Control_frames_up_to_125_bytes_are_accepted(byte b0)
    {
        var h = ReadOk(Header(b0, 125));
        Assert.Equal((WebSocketOpcode)(b0 & 0x0F), h.Opcode);
        Assert.True(h.IsControl);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(200)]
    [InlineData(70000)]
    public void Header_split_at_every_byte_boundary_is_read_once_complete(long length)
    {
        var header = Header(0x81, length);
        var bytes = header.Concat(new byte[] { 1, 2, 3 }).ToArray();    // payload bytes follow
        var expected = ReadOk(bytes);

        // Every prefix of the header is "need more bytes", in one segment or one byte per segment.
        for (var n = 0; n < header.Length; n++)
        {
            Assert.False(FrameReader.TryReadHeader(bytes.AsSpan(0, n), out _, out var e1), $"span prefix {n}");
            Assert.Equal(FrameError.None, e1);
            Assert.False(FrameReader.TryReadHeader(MultiSegment.Bytewise(bytes[..n]), out _, out var e2), $"bytewise prefix {n}");
            Assert.Equal(FrameError.None, e2);
        }

        // The whole header, cut into two or three segments anywhere.
        for (var i = 0; i <= bytes.Length; i++)
        {
            AssertSame(expected, MultiSegment.Split(bytes, i));
            for (var j = i; j <= bytes.Length; j++) AssertSame(expected, MultiSegment.Split(bytes, i, j));
        }
        AssertSame(expected, MultiSegment.Bytewise(bytes));

        static void AssertSame(FrameHeader expected, ReadOnlySequence<byte> seq)
        {
            Assert.True(FrameReader.TryReadHeader(seq, out var h, out var error));
            Assert.Equal(FrameError.None, error);
            Assert.Equal(expected.PayloadLength, h.PayloadLength);
            Assert.Equal(expected.HeaderLength, h.HeaderLength);
            Assert.Equal(expected.MaskKey, h.MaskKey);
            Assert.Equal(expected.Opcode, h.Opcode);
            Assert.Equal(expected.Fin, h.Fin);
        }
    }

    [Fact]
    public void Empty_input_and_one_byte_need_more()
    {
        Assert.False(FrameReader.TryReadHeader(ReadOnlySpan<byte>.Empty, out _, out _));
        Assert.False(FrameReader.TryReadHeader(ReadOnlySequence<byte>.Empty, out _, out _));
        Assert.False(FrameReader.TryReadHeader(new byte[] { 0x81 }, out _, out _));
    }

    [Fact]
    public void Unmasked_client_frame_is_refused()
    {
        Assert.Equal(FrameError.NotMasked, ReadError([0x81, 0x05, (byte)'H', (byte)'e', (byte)'l', (byte)'l', (byte)'o']));
        Assert.Equal(FrameError.NotMasked, ReadError([0x82, 126, 0x01, 0x00]));
    }

    [Theory]
    [InlineData(0xC1)]   // RSV1 (permessage-deflate, not negotiated)
    [InlineData(0xA1)]   // RSV2
    [InlineData(0x91)]   // RSV3
    [InlineData(0xF1)]
    [InlineData(0x49)]   // RSV1 on a ping without FIN
    public void Reserved_bits_are_refused(byte b0)
    {
        Assert.Equal(FrameError.ReservedBits, ReadError([b0, 0x80, 0, 0, 0, 0]));
    }

    [Theory]
    [InlineData(0x3)]
    [InlineData(0x4)]
    [InlineData(0x7)]
    [InlineData(0xB)]
    [InlineData(0xF)]
    public void Unknown_opcodes_are_refused(byte opcode)
    {
        Assert.Equal(FrameError.UnknownOpcode, ReadError([(byte)(0x80 | opcode), 0x80, 0, 0, 0, 0]));
    }

    [Fact]
    public void Ping_without_FIN_is_refused()
    {
        Assert.Equal(FrameError.BadControlFrame, ReadError(Header(0x09, 0)));
        Assert.Equal(FrameError.BadControlFrame, ReadError(Header(0x08, 2)));
        Assert.Equal(FrameError.BadControlFrame, ReadError(Header(0x0A, 2)));
    }

    [Theory]
    [InlineData(0x89, 126)]
    [InlineData(0x89, 65536)]
    [InlineData(0x88, 126)]
    [InlineData(0x8A, 200)]
    public void Control_frame_longer_than_125_bytes_is_refused(byte b0, long length)
    {
        Assert.Equal(FrameError.BadControlFrame, ReadError(Header(b0, length)));
    }

    [Fact]
    public void Sixty_four_bit_length_with_the_top_bit_set_is_refused()
    {
        var bytes = Header(0x82, 65536);
        bytes[2] |= 0x80;
        Assert.Equal(FrameError.NonMinimalLength, ReadError(bytes));
        Assert.Equal(FrameError.NonMinimalLength, ReadError([0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]));
    }

    [Fact]
    public void Errors_are_reported_as_soon_as_the_first_two_bytes_show_them()
    {
        // A client that sends a bad header and then stalls must still get its close frame.
        Assert.True(FrameReader.TryReadHeader(new byte[] { 0x81, 0x05 }, out _, out var error));
        Assert.Equal(FrameError.NotMasked, error);
        Assert.True(FrameReader.TryReadHeader(new byte[] { 0x83, 0x85 }, out _, out error));
        Assert.Equal(FrameError.UnknownOpcode, error);
    }

    // ---- Unmask ----

    private static byte[] NaiveUnmask(byte[] data, uint maskKey, long offset)
    {
        Span<byte> mask = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(mask, maskKey);   // the wire order
        var result = new byte[data.Length];
        for (var i = 0; i < data.Length; i++) result[i] = (byte)(data[i] ^ mask[(int)((offset + i) % 4)]);
        return result;
    }

    [Fact]
    public void Unmask_at_any_offset_equals_byte_by_byte_xor()
    {
        Gen.Select(Gen.Byte.Array[0, 100], Gen.UInt, Gen.Long[0, 7], Gen.Int[0, 7]).Sample((data, mask, offset, start) =>
        {
            // `start` shifts the data inside a larger array so unaligned spans are covered too.
            var buffer = new byte[start + data.Length];
            data.CopyTo(buffer, start);
            FrameReader.Unmask(buffer.AsSpan(start), mask, offset);
            Assert.Equal(NaiveUnmask(data, mask, offset), buffer[start..]);
        });
    }

    [Fact]
    public void Unmasking_a_payload_in_pieces_equals_unmasking_it_whole()
    {
        Gen.Select(Gen.Byte.Array[0, 200], Gen.UInt, Gen.Int[0, 200].Array[0, 5]).Sample((data, mask, cuts) =>
        {
            var pieces = cuts.Select(c => Math.Min(c, data.Length)).Order().ToArray();
            var buffer = (byte[])data.Clone();
            var start = 0;
            foreach (var end in pieces.Append(data.Length))
            {
                FrameReader.Unmask(buffer.AsSpan(start, end - start), mask, start);
                start = end;
            }
            Assert.Equal(NaiveUnmask(data, mask, 0), buffer);
        });
    }

    [Fact]
    public void Unmask_with_large_offsets_uses_the_offset_modulo_4()
    {
        var data = Enumerable.Range(0, 37).Select(i => (byte)i).ToArray();
        foreach (var offset in new[] { 4L, 5L, 1_000_001L, long.MaxValue - 3 })
        {
            var buffer = (byte[])data.Clone();
            FrameReader.Unmask(buffer, 0xdeadbeef, offset);
            Assert.Equal(NaiveUnmask(data, 0xdeadbeef, offset % 4), buffer);
        }
    }
}
