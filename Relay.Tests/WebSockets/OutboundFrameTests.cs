using System.Buffers;
using System.Text;
using Relay.Server.Protocol;
using Relay.Server.WebSockets;

namespace Relay.Tests.WebSockets;

/// A live event is queued as shared parts and framed only when sent, either copied into the send
/// buffer or gathered as segments: both must put the same bytes on the wire as a frame built whole.
public sealed class OutboundFrameTests
{
    [Theory]
    [InlineData("s", 10)]          // 7-bit length
    [InlineData("feed", 2_000)]    // 16-bit length
    [InlineData("a\"b", 70_000)]   // 64-bit length, an id that needed escaping
    public void A_live_event_copied_or_gathered_is_the_same_frame_as_one_built_whole(string subId, int contentLength)
    {
        var subIdJson = Replies.SubIdJson(subId);
        var raw = Encoding.UTF8.GetBytes("{\"content\":\"" + new string('x', contentLength) + "\"}");
        var whole = new byte[Replies.EventFrameLength(subIdJson, raw.Length)];
        Replies.WriteEvent(whole, subIdJson, raw);
        var frame = OutboundFrame.LiveEvent(subIdJson, raw);

        var copied = new byte[frame.Length];
        Assert.Equal(whole.Length, frame.CopyTo(copied));
        Assert.Equal(whole, copied);

        var segments = new List<ArraySegment<byte>>();
        var scratch = new byte[frame.HeadLength];
        var used = 0;
        frame.AddTo(segments, scratch, ref used);
        Assert.Equal(scratch.Length, used);
        Assert.Equal(whole, segments.SelectMany(s => s).ToArray());
        Assert.False(frame.TryGetBytes(out _));
        Assert.False(frame.IsClose);
    }

    [Fact]
    public void Whole_and_pooled_frames_are_sent_as_they_are()
    {
        var close = FrameWriter.Close(1008, "slow reader");
        var closeFrame = new OutboundFrame(close);
        Assert.True(closeFrame.IsClose);
        Assert.True(closeFrame.TryGetBytes(out var bytes));
        Assert.Equal(close, bytes.ToArray());
        Assert.Equal(0, closeFrame.HeadLength);

        var rented = ArrayPool<byte>.Shared.Rent(100);
        var n = Replies.WriteEose(rented, Replies.SubIdJson("s"));
        var pooled = OutboundFrame.FromPool(rented, n);
        Assert.Equal(n, pooled.Length);
        Assert.True(pooled.TryGetBytes(out var eose));
        Assert.Equal(rented.AsSpan(0, n).ToArray(), eose.ToArray());
        pooled.Release();
    }
}
