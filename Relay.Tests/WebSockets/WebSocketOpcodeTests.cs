using Relay.Server.WebSockets;

namespace Relay.Tests.WebSockets;

/// RFC 6455 §7.4: which close codes a peer may send us; a frame with any other code is a protocol error.
public sealed class WebSocketOpcodeTests
{
    [Theory]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(1002)]
    [InlineData(1003)]
    [InlineData(1007)]
    [InlineData(1008)]
    [InlineData(1009)]
    [InlineData(1010)]
    [InlineData(1011)]
    [InlineData(3000)]
    [InlineData(3999)]
    [InlineData(4000)]
    [InlineData(4999)]
    public void Codes_a_peer_may_send_are_accepted(ushort code)
    {
        Assert.True(CloseCodes.IsValidReceived(code));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(999)]
    [InlineData(1004)]   // reserved
    [InlineData(1005)]   // "no status": must not be sent on the wire (§7.4.1)
    [InlineData(1006)]   // "abnormal closure": must not be sent
    [InlineData(1015)]   // "TLS handshake": must not be sent
    [InlineData(1016)]
    [InlineData(2000)]
    [InlineData(2999)]
    [InlineData(5000)]
    [InlineData(65535)]
    public void Reserved_and_unassigned_codes_are_refused(ushort code)
    {
        Assert.False(CloseCodes.IsValidReceived(code));
    }
}
