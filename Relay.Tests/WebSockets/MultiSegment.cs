using System.Buffers;

namespace Relay.Tests.WebSockets;

/// Builds ReadOnlySequence values from several buffers, as a PipeReader hands them over when
/// bytes arrive in separate socket reads.
internal sealed class MultiSegment : ReadOnlySequenceSegment<byte>
{
    private MultiSegment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(params byte[][] parts)
    {
        if (parts.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new MultiSegment(parts[0], 0);
        var last = first;
        for (var i = 1; i < parts.Length; i++)
        {
            var next = new MultiSegment(parts[i], last.RunningIndex + last.Memory.Length);
            last.Next = next;
            last = next;
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <paramref name="data"/> cut at the given ascending positions.
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var parts = new List<byte[]>();
        var start = 0;
        foreach (var cut in cuts.Append(data.Length))
        {
            parts.Add(data[start..cut]);
            start = cut;
        }
        return Of([.. parts]);
    }

    /// One byte per segment.
    public static ReadOnlySequence<byte> Bytewise(byte[] data) => Of([.. data.Select(b => new[] { b })]);
}
