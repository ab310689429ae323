using Relay.Storage.Model;

namespace Relay.Tests.Support;

/// NIP-42 steps the tests repeat: sign the AUTH event for this connection and send it.
internal static class AuthExtensions
{
    public static string AuthEvent(this EventSigner signer, string challenge, string? relayUrl, long? createdAt = null, int kind = Kinds.ClientAuthentication) =>
        signer.Sign(kind, "", [["relay", relayUrl ?? "ws://127.0.0.1"], ["challenge", challenge]], createdAt);

    /// Sends ["AUTH", event] and returns the OK: (accepted, message).
    public static async Task<(bool Accepted, string Message)> AuthenticateAsync(this RelayClient client, string authEvent)
    {
        var id = RelayClientExtensions.IdOf(authEvent);
        await client.SendAsync($"[\"AUTH\",{authEvent}]");
        var ok = await client.ReadUntilAsync("OK", id);
        return (ok[2].GetBoolean(), ok[3].GetString()!);
    }

    /// Authenticates as the signer; fails the test unless the relay accepts it.
    public static async Task AuthenticateAsAsync(this RelayClient client, EventSigner signer, string? relayUrl)
    {
        var (ok, message) = await client.AuthenticateAsync(signer.AuthEvent(client.Challenge, relayUrl));
        Assert.True(ok, "AUTH refused: " + message);
    }

    /// Sends a REQ and returns the CLOSED message for it (fails if EOSE comes instead).
    public static async Task<string> ReqClosedAsync(this RelayClient client, string subId, string filter)
    {
        await client.SendAsync($"[\"REQ\",\"{subId}\",{filter}]");
        while (true)
        {
            var m = await RelayClientExtensions.NextAsync(client);
            var type = m[0].GetString();
            if (type == "CLOSED" && m[1].GetString() == subId) return m[2].GetString()!;
            if (type == "EOSE" && m[1].GetString() == subId) throw new InvalidOperationException($"REQ {subId} was answered, not closed");
        }
    }
}

internal static class SignerExtensions
{
    public static Key32 PubkeyKeyOf(this EventSigner signer) => Key32.Parse(signer.Pubkey);
}
