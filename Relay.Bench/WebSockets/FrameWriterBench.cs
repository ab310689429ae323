using BenchmarkDotNet.Attributes;
using Relay.Server.Protocol;
using Relay.Server.WebSockets;

namespace Relay.Bench.WebSockets;

/// Server frame building: the bare header; a whole EVENT frame written into a REQ's batch buffer;
/// and a live event queued as shared parts, then written into the send buffer as the send loop
/// does. All 0 B.
[MemoryDiagnoser]
public class FrameWriterBench
{
    private readonly byte[] _header = new byte[FrameReader.MaxHeaderLength];
    private readonly byte[] _subIdJson = Replies.SubIdJson("home-feed");
    private readonly byte[] _raw = Samples.Kind1.Raw;

    /// 7-bit, 16-bit and 64-bit length forms (RFC 6455 §5.2).
    [Benchmark]
    [Arguments(100)]
    [Arguments(2048)]
    [Arguments(70_000)]
    public int WriteHeader(int payloadLength) => FrameWriter.WriteHeader(_header, WebSocketOpcode.Text, payloadLength);

    private readonly byte[] _batch = new byte[64 * 1024];

    /// A stored query result, framed into the REQ's batch buffer (StoredResultBatch).
    [Benchmark]
    public int RepliesWriteEvent() => Replies.WriteEvent(_batch, _subIdJson, _raw);

    /// A live event for one subscriber: queued as (subscription id, stored JSON), framed at send time.
    [Benchmark]
    public int LiveEventQueuedThenCopied() => OutboundFrame.LiveEvent(_subIdJson, _raw).CopyTo(_batch);
}
