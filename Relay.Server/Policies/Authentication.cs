using Relay.Server.Verify;
using Relay.Storage.Model;

namespace Relay.Server.Policies;

/// NIP-42: checks an AUTH event against the connection's challenge. On success the connection
/// is authenticated as the event's pubkey (a connection may add several).
internal sealed class Authentication(string? relayUrl)
{
    /// How far created_at may be from now (NIP-42 suggests about ten minutes).
    public const int MaxSkewSeconds = 600;

    /// Null when the event proves the pubkey; otherwise the OK false message.
    public string? Check(NostrEvent e, ConnectionSession session, long now)
    {
        if (e.Kind != Kinds.ClientAuthentication) return $"invalid: an AUTH event must be of kind {Kinds.ClientAuthentication}";
        if (Math.Abs(now - e.CreatedAt) > MaxSkewSeconds) return "invalid: created_at must be within 10 minutes of now";
        string? challenge = null, relay = null;
        foreach (var t in e.Tags)
        {
            if (t.Length < 2) continue;
            if (t[0] == "challenge") challenge ??= t[1];
            else if (t[0] == "relay") relay ??= t[1];
        }
        if (challenge != session.Challenge) return "invalid: the challenge does not match this connection's";
        // Without RELAY_URL the relay can't know its public name; the tag must still be there.
        if (relay is null || (relayUrl is not null && !RelayUrl.SameRelay(relay, relayUrl))) return "invalid: the relay tag does not name this relay";
        if (!SignatureVerifier.Verify(e)) return "invalid: bad signature";
        return null;
    }
}
