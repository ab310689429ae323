using System.Buffers;
using System.Buffers.Binary;
using System.Text.Unicode;
using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

/// The WebSocket session: frames in (RFC 6455), messages to the protocol handler.
internal sealed partial class ClientConnection
{
    private byte[] _message = [];            // reassembly buffer for the message being received
    private int _messageLength;
    private WebSocketOpcode _messageOpcode;  // Text or Binary while a fragmented message is open
    private bool _inFragmentedMessage;

    private async Task RunWebSocketAsync()
    {
        _ctx.Metrics.WebSocketsOpened.Increment();
        var sendLoop = SendLoopAsync();
        try
        {
            while (State == ConnectionState.WebSocket)
            {
                var result = await _input.ReadAsync(Aborted);
                LastReceivedAt = Environment.TickCount64;
                var buffer = result.Buffer;
                var step = ProcessFrames(ref buffer, out var closeCode, out var closeReason);
                if (step == FrameStep.MessageReady)
                {
                    _input.AdvanceTo(buffer.Start);
                    await DispatchMessageAsync();
                    continue;
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (step == FrameStep.Fail) { Close(closeCode, closeReason); break; }
                if (step == FrameStep.PeerClosed) return;   // close echoed: the handshake is complete
                if (result.IsCompleted) break;
            }
            // We sent the close: skip frames until the peer's close answer (§7.1.1), then the
            // socket is ours to close; a peer that never answers meets the abort timer.
            while (State == ConnectionState.Closing)
            {
                var result = await _input.ReadAsync(Aborted);
                var buffer = result.Buffer;
                var peerClosed = SkipToClose(ref buffer);
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (peerClosed || result.IsCompleted) break;
            }
        }
        finally
        {
            _outbox.Complete();
            await sendLoop;
            ReturnMessageBuffer();
        }
    }

    private enum FrameStep : byte { NeedMore, MessageReady, Fail, PeerClosed }

    /// Consumes complete frames from <paramref name="buffer"/>; stops after each complete data
    /// message so it can be dispatched before the reassembly buffer is reused.
    private FrameStep ProcessFrames(ref ReadOnlySequence<byte> buffer, out ushort closeCode, out string closeReason)
    {
        closeCode = 0;
        closeReason = "";
        Span<byte> control = stackalloc byte[FrameReader.MaxControlPayload];
        while (true)
        {
            if (!FrameReader.TryReadHeader(buffer, out var h, out var error)) return FrameStep.NeedMore;
            if (error != FrameError.None)
            {
                closeCode = CloseCodes.ProtocolError;
                closeReason = error switch
                {
                    FrameError.NotMasked => "client frames must be masked",
                    FrameError.ReservedBits => "reserved bits set",
                    FrameError.UnknownOpcode => "unknown opcode",
                    FrameError.BadControlFrame => "control frames must be final and at most 125 bytes",
                    _ => "invalid frame length",
                };
                return FrameStep.Fail;
            }

            if (h.IsControl)
            {
                if (buffer.Length < h.HeaderLength + h.PayloadLength) return FrameStep.NeedMore;
                var payload = control[..(int)h.PayloadLength];
                buffer.Slice(h.HeaderLength, h.PayloadLength).CopyTo(payload);
                FrameReader.Unmask(payload, h.MaskKey, 0);
                buffer = buffer.Slice(h.HeaderLength + h.PayloadLength);
                switch (h.Opcode)
                {
                    case WebSocketOpcode.Ping:
                        Send(FrameWriter.Frame(WebSocketOpcode.Pong, payload));
                        break;
                    case WebSocketOpcode.Pong:
                        break;
                    case WebSocketOpcode.Close:
                        return HandlePeerClose(payload, out closeCode, out closeReason);
                }
                continue;
            }

            // Data frame: start or continue a message, within the size limit, before buffering the body.
            if (h.Opcode == WebSocketOpcode.Continuation)
            {
                if (!_inFragmentedMessage) { closeCode = CloseCodes.ProtocolError; closeReason = "continuation without a message"; return FrameStep.Fail; }
            }
            else
            {
                if (_inFragmentedMessage) { closeCode = CloseCodes.ProtocolError; closeReason = "new message inside a fragmented one"; return FrameStep.Fail; }
                _messageOpcode = h.Opcode;
                _messageLength = 0;
            }
            if (_messageLength + h.PayloadLength > _ctx.Options.MaxMessageBytes)
            {
                closeCode = CloseCodes.MessageTooBig;
                closeReason = $"message larger than {_ctx.Options.MaxMessageBytes} bytes";
                return FrameStep.Fail;
            }
            if (buffer.Length < h.HeaderLength + h.PayloadLength) return FrameStep.NeedMore;

            var length = (int)h.PayloadLength;
            EnsureMessageCapacity(_messageLength + length);
            var dst = _message.AsSpan(_messageLength, length);
            buffer.Slice(h.HeaderLength, length).CopyTo(dst);
            FrameReader.Unmask(dst, h.MaskKey, 0);
            _messageLength += length;
            buffer = buffer.Slice(h.HeaderLength + length);

            if (!h.Fin) { _inFragmentedMessage = true; continue; }
            _inFragmentedMessage = false;
            if (_messageOpcode == WebSocketOpcode.Text && !Utf8.IsValid(_message.AsSpan(0, _messageLength)))
            {
                closeCode = CloseCodes.InvalidPayload;
                closeReason = "text message is not valid UTF-8";
                return FrameStep.Fail;
            }
            return FrameStep.MessageReady;
        }
    }

    /// Consumes whole frames; true once a close frame has been seen.
    private static bool SkipToClose(ref ReadOnlySequence<byte> buffer)
    {
        while (FrameReader.TryReadHeader(buffer, out var h, out var error))
        {
            if (error != FrameError.None) return true;          // nothing more worth reading
            if (buffer.Length < h.HeaderLength + h.PayloadLength) return false;
            buffer = buffer.Slice(h.HeaderLength + h.PayloadLength);
            if (h.Opcode == WebSocketOpcode.Close) return true;
        }
        return false;
    }

    private FrameStep HandlePeerClose(ReadOnlySpan<byte> payload, out ushort closeCode, out string closeReason)
    {
        closeReason = "";
        if (payload.Length == 1) { closeCode = CloseCodes.ProtocolError; closeReason = "close payload of one byte"; return FrameStep.Fail; }
        closeCode = CloseCodes.Normal;
        if (payload.Length >= 2)
        {
            var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
            if (!CloseCodes.IsValidReceived(code)) { closeCode = CloseCodes.ProtocolError; closeReason = "invalid close code"; return FrameStep.Fail; }
            if (!Utf8.IsValid(payload[2..])) { closeCode = CloseCodes.InvalidPayload; closeReason = "close reason is not valid UTF-8"; return FrameStep.Fail; }
            closeCode = code;
        }
        // Echo the code (§5.5.1), then we are done with this peer.
        Close(closeCode, "");
        return FrameStep.PeerClosed;
    }

    private async ValueTask DispatchMessageAsync()
    {
        if (_messageOpcode == WebSocketOpcode.Binary)
        {
            Send(Protocol.Replies.Notice("invalid: binary messages are not supported; send JSON as text"));
            return;
        }
        var message = _ctx.Parser.Parse(_message.AsSpan(0, _messageLength));
        // Between messages the connection holds no buffer (renting again is cheap; idle memory is not).
        ReturnMessageBuffer();
        await _ctx.Handler.HandleAsync(this, message);
    }

    private void EnsureMessageCapacity(int needed)
    {
        if (_message.Length >= needed) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
        _message.AsSpan(0, _messageLength).CopyTo(bigger);
        ReturnMessageBuffer();
        _message = bigger;
    }

    private void ReturnMessageBuffer()
    {
        if (_message.Length > 0) ArrayPool<byte>.Shared.Return(_message);
        _message = [];
    }
}
