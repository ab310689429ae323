using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Relay.Storage.Model;

namespace Relay.Bench;

/// Canned inputs shared by every benchmark: built once, deterministic except for the signatures'
/// random aux bytes (which change neither sizes nor costs).
internal static class Samples
{
    public const long CreatedAt = 1_700_000_000;

    /// A typical short note: a line break and a quote (escaped in the id preimage) and a link.
    public const string Kind1Content =
        "GM nostr! Just shipped a new relay build, fan-out latency is way down.\n" +
        "Notes here: https://example.com/posts/relay-perf \"benchmarks inside\" #nostr #relay";

    public static readonly string ReplyToId = Hex(1, 32);
    public static readonly string MentionPubkey = Hex(2, 32);

    /// A reply's tags, as clients write them (NIP-10 marked `e`, then the `p` of the author).
    public static readonly string[][] Kind1Tags =
    [
        ["e", ReplyToId, "wss://relay.example.com", "reply"],
        ["p", MentionPubkey],
    ];

    public static readonly byte[] Kind1ContentUtf8 = Encoding.UTF8.GetBytes(Kind1Content);

    /// The note's compact JSON, signed by the "bench" key.
    public static readonly byte[] Kind1Json;
    public static readonly NostrEvent Kind1;
    public static readonly string Kind1Pubkey;

    /// `["EVENT",{…}]` as a client sends it.
    public static readonly byte[] EventMessage;

    /// A home-feed REQ with two filters: notes and reposts by followed authors, and reactions/replies to one note.
    public static readonly byte[] ReqMessage;

    static Samples()
    {
        using var signer = EventSigner.FromSeed("bench");
        Kind1Pubkey = signer.Pubkey;
        Kind1Json = signer.SignUtf8(1, Kind1Content, Kind1Tags, CreatedAt);
        Kind1 = EventParser.TryParse(Kind1Json, out var error) ?? throw new InvalidOperationException(error);
        EventMessage = [.. "[\"EVENT\","u8, .. Kind1Json, .. "]"u8];

        var authors = string.Join(",", Enumerable.Range(10, 5).Select(i => $"\"{Hex(i, 32)}\"").Append($"\"{Kind1Pubkey}\""));
        ReqMessage = Encoding.UTF8.GetBytes(
            $"[\"REQ\",\"home-feed\",{{\"authors\":[{authors}],\"kinds\":[1,6],\"since\":1699990000,\"limit\":200}}," +
            $"{{\"#e\":[\"{ReplyToId}\"],\"kinds\":[1,7]}}]");
    }

    /// Deterministic lowercase hex of <paramref name="bytes"/> bytes (ids, pubkeys).
    public static string Hex(int seed, int bytes)
    {
        var b = new byte[bytes];
        new Random(seed).NextBytes(b);
        return Convert.ToHexStringLower(b);
    }

    /// Distinct signed kind-1 events, for batches where every signature must be checked afresh.
    public static NostrEvent[] SignedBatch(int count)
    {
        using var signer = EventSigner.FromSeed("bench-batch");
        var events = new NostrEvent[count];
        for (var i = 0; i < count; i++) events[i] = signer.SignEvent(1, $"{Kind1Content} #{i}", Kind1Tags, CreatedAt + i);
        return events;
    }

    public const uint MaskKey = 0x9A3C_51E7;

    /// A final, masked text frame as a client sends it (RFC 6455 §5.2), built by hand so the reader
    /// under test isn't used to make its own input. Payload: the EVENT message repeated and cut.
    public static byte[] MaskedTextFrame(int payloadLength)
    {
        var header = payloadLength < 126 ? 2 : payloadLength <= ushort.MaxValue ? 4 : 10;
        var frame = new byte[header + 4 + payloadLength];
        frame[0] = 0x81;                                                    // FIN | text
        if (header == 2) frame[1] = (byte)(0x80 | payloadLength);
        else if (header == 4) { frame[1] = 0x80 | 126; BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payloadLength); }
        else { frame[1] = 0x80 | 127; BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payloadLength); }
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(header), MaskKey);  // wire order, as FrameReader reads it
        var payload = frame.AsSpan(header + 4);
        for (var i = 0; i < payloadLength; i++)
            payload[i] = (byte)(EventMessage[i % EventMessage.Length] ^ (byte)(MaskKey >> ((i & 3) * 8)));
        return frame;
    }

    /// <paramref name="data"/> as a sequence cut at <paramref name="cuts"/>, like a pipe's buffers
    /// when a frame header straddles two reads.
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var first = new Segment(data.AsMemory(0, cuts[0]), 0);
        var last = first;
        for (var i = 0; i < cuts.Length; i++)
        {
            var end = i + 1 < cuts.Length ? cuts[i + 1] : data.Length;
            last = last.Append(data.AsMemory(cuts[i], end - cuts[i]));
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
