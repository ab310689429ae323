using System.Buffers;
using BenchmarkDotNet.Attributes;
using Relay.Server.WebSockets;

namespace Relay.Bench.WebSockets;

/// FrameReader: header parse from one span, from the sequence a pipe hands over (one segment, and
/// a header cut across two segments), and unmasking a payload in place. Every path should be 0 B.
[MemoryDiagnoser]
[Config(typeof(UnmaskThroughputConfig))]
public class FrameReaderBench
{
    /// 200 B and 2 KiB use the 16-bit length form, 64 KiB the 64-bit one (§5.2).
    [Params(200, 2048, 65536)]
    public int PayloadBytes { get; set; }

    private byte[] _frame = [];
    private byte[] _payload = [];
    private ReadOnlySequence<byte> _oneSegment;
    private ReadOnlySequence<byte> _split;

    [GlobalSetup]
    public void Setup()
    {
        _frame = Samples.MaskedTextFrame(PayloadBytes);
        _oneSegment = new ReadOnlySequence<byte>(_frame);
        _split = Samples.Split(_frame, 3);   // cut inside the extended length: takes the copy path
        if (!FrameReader.TryReadHeader(_split, out var h, out var error) || error != FrameError.None || h.PayloadLength != PayloadBytes)
            throw new InvalidOperationException("sample frame does not parse");
        _payload = _frame.AsSpan(h.HeaderLength).ToArray();
    }

    [Benchmark(Baseline = true)]
    public long TryReadHeader_Span()
    {
        FrameReader.TryReadHeader(_frame.AsSpan(), out var h, out _);
        return h.PayloadLength;
    }

    [Benchmark]
    public long TryReadHeader_OneSegment()
    {
        FrameReader.TryReadHeader(_oneSegment, out var h, out _);
        return h.PayloadLength;
    }

    [Benchmark]
    public long TryReadHeader_SplitSegments()
    {
        FrameReader.TryReadHeader(_split, out var h, out _);
        return h.PayloadLength;
    }

    /// XOR in place; successive calls alternately mask and unmask, which costs the same.
    [Benchmark]
    public void Unmask() => FrameReader.Unmask(_payload, Samples.MaskKey, 0);
}
