using System.Text;
using System.Text.Json;

namespace Relay.LoadTests.Net;

internal enum RelayMessageType { Unknown, Event, Ok, Eose, Closed, Notice, Auth }

/// The head of one relay → client message, read with Utf8JsonReader: only the fields the load
/// generator needs, no DOM, and the event object of an EVENT is not parsed at all.
internal ref struct RelayMessage
{
    public RelayMessageType Type;

    /// The subscription id (EVENT, EOSE, CLOSED) or the event id (OK), as raw bytes. Sub ids and
    /// hex ids contain nothing JSON would escape, so the raw bytes are the value.
    public ReadOnlySpan<byte> Key;

    /// OK's accepted flag.
    public bool Accepted;

    /// OK / CLOSED / NOTICE message (null when absent).
    public string? Text;

    /// EVENT: where the event object starts in the message.
    public int EventOffset;

    public static bool TryParse(ReadOnlySpan<byte> json, out RelayMessage m)
    {
        m = default;
        try
        {
            var r = new Utf8JsonReader(json);
            if (!r.Read() || r.TokenType != JsonTokenType.StartArray) return false;
            if (!r.Read() || r.TokenType != JsonTokenType.String) return false;
            if (r.ValueTextEquals("EVENT"u8)) m.Type = RelayMessageType.Event;
            else if (r.ValueTextEquals("OK"u8)) m.Type = RelayMessageType.Ok;
            else if (r.ValueTextEquals("EOSE"u8)) m.Type = RelayMessageType.Eose;
            else if (r.ValueTextEquals("CLOSED"u8)) m.Type = RelayMessageType.Closed;
            else if (r.ValueTextEquals("NOTICE"u8)) m.Type = RelayMessageType.Notice;
            else if (r.ValueTextEquals("AUTH"u8)) m.Type = RelayMessageType.Auth;
            else return true;

            if (!r.Read()) return false;
            if (m.Type == RelayMessageType.Notice)
            {
                m.Text = r.TokenType == JsonTokenType.String ? r.GetString() : null;
                return true;
            }
            if (r.TokenType != JsonTokenType.String) return m.Type == RelayMessageType.Auth;
            m.Key = r.ValueSpan;
            switch (m.Type)
            {
                case RelayMessageType.Event:
                    if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return false;
                    m.EventOffset = (int)r.TokenStartIndex;
                    return true;
                case RelayMessageType.Ok:
                    if (!r.Read() || (r.TokenType != JsonTokenType.True && r.TokenType != JsonTokenType.False)) return false;
                    m.Accepted = r.TokenType == JsonTokenType.True;
                    if (r.Read() && r.TokenType == JsonTokenType.String) m.Text = r.GetString();
                    return true;
                case RelayMessageType.Closed:
                    if (r.Read() && r.TokenType == JsonTokenType.String) m.Text = r.GetString();
                    return true;
                default:
                    return true;
            }
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// The decimal number at the start of an event's content (our fan-out events put their
    /// sequence number there). Finds `"content":"` in the raw event bytes: our tags never hold
    /// that text, so the first hit is the content. -1 when absent.
    public static long LeadingNumberOfContent(ReadOnlySpan<byte> eventJson)
    {
        var at = eventJson.IndexOf("\"content\":\""u8);
        if (at < 0)
        {
            // A relay may pretty-print or reorder: fall back to a real parse.
            return LeadingNumberSlow(eventJson);
        }
        var s = eventJson[(at + 11)..];
        long v = 0;
        var digits = 0;
        while (digits < s.Length && digits < 18 && s[digits] is >= (byte)'0' and <= (byte)'9')
        {
            v = v * 10 + (s[digits] - '0');
            digits++;
        }
        return digits == 0 ? -1 : v;
    }

    private static long LeadingNumberSlow(ReadOnlySpan<byte> eventJson)
    {
        try
        {
            var r = new Utf8JsonReader(eventJson);
            while (r.Read())
            {
                if (r.TokenType == JsonTokenType.PropertyName && r.CurrentDepth == 1 && r.ValueTextEquals("content"u8) && r.Read())
                {
                    var content = r.GetString() ?? "";
                    var end = 0;
                    while (end < content.Length && end < 18 && char.IsAsciiDigit(content[end])) end++;
                    return end == 0 ? -1 : long.Parse(content.AsSpan(0, end), provider: System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (JsonException)
        {
        }
        return -1;
    }

    public static string KeyString(ReadOnlySpan<byte> key) => Encoding.UTF8.GetString(key);
}
