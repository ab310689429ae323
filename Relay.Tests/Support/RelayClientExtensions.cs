using System.Text.Json;
using System.Text.Json.Nodes;

namespace Relay.Tests.Support;

/// Steps the end-to-end tests repeat: publish and insist on OK true, query ids, read the next
/// message or fail, and edit a signed event's JSON to break one thing about it.
internal static class RelayClientExtensions
{
    public static string IdOf(string eventJson) => JsonDocument.Parse(eventJson).RootElement.GetProperty("id").GetString()!;

    /// Publishes each event in turn; fails the test unless every one is accepted.
    public static async Task PublishAcceptedAsync(this RelayClient client, params string[] events)
    {
        foreach (var e in events)
        {
            var (accepted, message) = await client.PublishAsync(e);
            Assert.True(accepted, $"event {IdOf(e)} refused: {message}");
        }
    }

    /// The ids of the stored events a REQ returns, in the order received.
    public static async Task<List<string>> QueryIdsAsync(this RelayClient client, string subId, params string[] filters) =>
        (await client.QueryAsync(subId, filters)).Select(e => e.GetProperty("id").GetString()!).ToList();

    /// The next message; fails if the relay closes the connection instead.
    public static async Task<JsonElement> NextAsync(this RelayClient client) =>
        await client.ReceiveAsync() ?? throw new InvalidOperationException($"connection closed ({client.CloseStatus} {client.CloseDescription})");

    /// The event JSON with one top-level field replaced (or removed when <paramref name="value"/> is null).
    public static string WithField(string eventJson, string field, JsonNode? value)
    {
        var o = JsonNode.Parse(eventJson)!.AsObject();
        if (value is null) o.Remove(field); else o[field] = value;
        return o.ToJsonString();
    }

    /// Changes one hex digit of a hex field (id, pubkey or sig), keeping it lowercase hex.
    public static string FlipHexChar(string eventJson, string field, int index = 10)
    {
        var o = JsonNode.Parse(eventJson)!.AsObject();
        var chars = o[field]!.GetValue<string>().ToCharArray();
        chars[index] = chars[index] == '0' ? '1' : '0';
        o[field] = new string(chars);
        return o.ToJsonString();
    }
}
