using System.Text.Json;
using Relay.Storage.Model;

namespace Relay.Server.Protocol;

/// Parses one client text message (NIP-01: `["EVENT",{…}]`, `["REQ",id,filter…]`, `["CLOSE",id]`,
/// NIP-45 `["COUNT",id,filter…]`, NIP-42 `["AUTH",{…}]`). Never throws for client input: bad input becomes an Error.
internal sealed class ClientMessageParser(int maxSubIdLength, int maxFilters)
{
    public ClientMessage Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            return ParseCore(json);
        }
        catch (JsonException)
        {
            return new ClientMessage { Error = "invalid: malformed JSON" };
        }
        catch (InvalidOperationException)
        {
            return new ClientMessage { Error = "invalid: malformed JSON" };
        }
    }

    private ClientMessage ParseCore(ReadOnlySpan<byte> json)
    {
        var message = ParseArray(json, out var reader);
        // Anything after the closing ']' (a second message, stray brackets) makes the whole text
        // malformed; Read throws for non-whitespace trailing content.
        if (message.IsValid && reader.Read()) return new ClientMessage { Type = message.Type, Error = "invalid: malformed JSON" };
        return message;
    }

    private ClientMessage ParseArray(ReadOnlySpan<byte> json, out Utf8JsonReader reader)
    {
        reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            return new ClientMessage { Error = "invalid: message must be a JSON array" };
        if (!reader.Read() || reader.TokenType != JsonTokenType.String)
            return new ClientMessage { Error = "invalid: message must start with a command string" };

        if (reader.ValueTextEquals("EVENT"u8)) return ParseEvent(ref reader, json, ClientMessageType.Event);
        if (reader.ValueTextEquals("REQ"u8)) return ParseFilters(ref reader, ClientMessageType.Req);
        if (reader.ValueTextEquals("COUNT"u8)) return ParseFilters(ref reader, ClientMessageType.Count);
        if (reader.ValueTextEquals("CLOSE"u8))
        {
            if (!TryReadSubId(ref reader, out var subId, out var error)) return new ClientMessage { Type = ClientMessageType.Close, Error = error };
            if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
                return new ClientMessage { Type = ClientMessageType.Close, Error = "invalid: CLOSE takes only a subscription id" };
            return new ClientMessage { Type = ClientMessageType.Close, SubId = subId };
        }
        if (reader.ValueTextEquals("AUTH"u8)) return ParseEvent(ref reader, json, ClientMessageType.Auth);   // NIP-42
        return new ClientMessage { Error = $"invalid: unknown command {Truncate(reader.GetString()!)}" };
    }

    /// EVENT and AUTH both carry one signed event; either way a bad one is answered with OK false.
    private static ClientMessage ParseEvent(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ClientMessageType type)
    {
        var name = type == ClientMessageType.Auth ? "AUTH" : "EVENT";
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return new ClientMessage { Type = type, Error = $"invalid: {name} needs an event object" };
        var ev = EventParser.TryParse(ref reader, out var error);
        if (ev is null) return new ClientMessage { Type = type, Error = "invalid: " + error, EventId = SalvageId(json) };
        if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
            return new ClientMessage { Type = type, Error = $"invalid: {name} takes one event", EventId = ev.Id };
        return new ClientMessage { Type = type, Event = ev, EventId = ev.Id };
    }

    private ClientMessage ParseFilters(ref Utf8JsonReader reader, ClientMessageType type)
    {
        if (!TryReadSubId(ref reader, out var subId, out var error)) return new ClientMessage { Type = type, Error = error };
        var filters = new List<NostrFilter>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var filter = FilterParser.TryParse(ref reader, out var ferr);
            if (filter is null) return new ClientMessage { Type = type, SubId = subId, Error = "invalid: " + ferr };
            filters.Add(filter);
            if (filters.Count > maxFilters) return new ClientMessage { Type = type, SubId = subId, Error = $"invalid: too many filters (max {maxFilters})" };
        }
        if (filters.Count == 0) return new ClientMessage { Type = type, SubId = subId, Error = "invalid: at least one filter is required" };
        return new ClientMessage { Type = type, SubId = subId, Filters = filters.ToArray() };
    }

    private bool TryReadSubId(ref Utf8JsonReader reader, out string? subId, out string? error)
    {
        subId = null;
        error = null;
        if (!reader.Read() || reader.TokenType != JsonTokenType.String) { error = "invalid: subscription id must be a string"; return false; }
        subId = reader.GetString()!;
        if (subId.Length == 0 || subId.Length > maxSubIdLength)
        {
            error = $"invalid: subscription id must be 1 to {maxSubIdLength} characters";
            subId = null;
            return false;
        }
        return true;
    }

    /// Finds the event's "id" in a message that failed validation, so the OK false can name it.
    private static string? SalvageId(ReadOnlySpan<byte> json)
    {
        try
        {
            var r = new Utf8JsonReader(json);
            r.Read(); r.Read(); r.Read();   // [ "EVENT" {
            if (r.TokenType != JsonTokenType.StartObject) return null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var isId = r.ValueTextEquals("id"u8);
                r.Read();
                if (isId && r.TokenType == JsonTokenType.String && r.GetString() is { } id && Hex.IsLowerHex(id, 64)) return id;
                r.Skip();
            }
        }
        catch (JsonException) { }
        return null;
    }

    private static string Truncate(string s) => s.Length > 32 ? s[..32] + "…" : s;
}
