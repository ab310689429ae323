using System.Net;

namespace Relay.Server.Policies;

/// The client's address behind a reverse proxy (Traefik): taken from X-Forwarded-For or
/// X-Real-IP only when the TCP peer is a trusted proxy, so a client can't dodge per-address
/// limits by forging the header. In X-Forwarded-For the rightmost address not itself a trusted
/// proxy is the client (each proxy appends the peer it saw).
internal static class ClientAddress
{
    public static IPAddress Resolve(IPAddress peer, string? forwardedFor, string? realIp, AddressRange[] trusted)
    {
        if (!IsTrusted(peer, trusted)) return peer;
        if (forwardedFor is not null)
        {
            var hops = forwardedFor.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            for (var i = hops.Length - 1; i >= 0; i--)
            {
                if (!IPAddress.TryParse(hops[i], out var hop)) return peer;   // garbage: believe only the socket
                if (!IsTrusted(hop, trusted)) return hop;
                peer = hop;
            }
            return peer;
        }
        return realIp is not null && IPAddress.TryParse(realIp.Trim(), out var real) ? real : peer;
    }

    private static bool IsTrusted(IPAddress address, AddressRange[] trusted)
    {
        foreach (var r in trusted) if (r.Contains(address)) return true;
        return false;
    }
}
