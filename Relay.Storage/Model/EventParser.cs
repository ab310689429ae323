using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Relay.Storage.Model;

/// Turns the JSON object of an EVENT message into a <see cref="NostrEvent"/>, checking every field's
/// shape and that the id is the SHA-256 of the NIP-01 serialisation. The signature is checked later.
public static class EventParser
{
    public const int MaxTags = 2500;

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_scratch;

    /// Reader positioned on the event's StartObject; on return it is on the matching EndObject.
    /// Returns null and a client-facing reason (without the "invalid: " prefix) on failure.
    public static NostrEvent? TryParse(ref Utf8JsonReader reader, out string? error) => Parse(ref reader, out error, stored: default);

    /// An event another relay process stored, as it sent it on the bus (the stored compact JSON):
    /// only the fields live matching needs are read. The id is not hashed again, the content is
    /// skipped and the bytes are kept as they came (they are the stored JSON already).
    public static NostrEvent? FromStored(ReadOnlySpan<byte> raw)
    {
        try
        {
            var reader = new Utf8JsonReader(raw);
            return reader.Read() ? Parse(ref reader, out _, stored: raw) : null;
        }
        catch (JsonException) { return null; }
    }

    private static NostrEvent? Parse(ref Utf8JsonReader reader, out string? error, ReadOnlySpan<byte> stored)
    {
        error = null;
        var trusted = !stored.IsEmpty;
        if (reader.TokenType != JsonTokenType.StartObject) { error = "event must be a JSON object"; return null; }
        string? id = null, pubkey = null, sig = null;
        long? createdAt = null;
        int? kind = null;
        string[][]? tags = null;
        byte[]? content = null;
        try
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var field = reader.ValueSpan;
                var escaped = reader.ValueIsEscaped;
                if (!reader.Read()) break;
                if (escaped) { reader.Skip(); continue; }
                if (field.SequenceEqual("id"u8)) { if (!TryHex(ref reader, 64, out id)) { error = "id must be 64 lowercase hex characters"; return null; } }
                else if (field.SequenceEqual("pubkey"u8)) { if (!TryHex(ref reader, 64, out pubkey)) { error = "pubkey must be 64 lowercase hex characters"; return null; } }
                else if (field.SequenceEqual("sig"u8)) { if (!TryHex(ref reader, 128, out sig)) { error = "sig must be 128 lowercase hex characters"; return null; } }
                else if (field.SequenceEqual("created_at"u8))
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var at) || at < 0 || !IsPlainInteger(reader.ValueSpan))
                    { error = "created_at must be a non-negative integer"; return null; }
                    createdAt = at;
                }
                else if (field.SequenceEqual("kind"u8))
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var k) || k < 0 || k > Kinds.Max || !IsPlainInteger(reader.ValueSpan))
                    { error = "kind must be an integer from 0 to 65535"; return null; }
                    kind = k;
                }
                else if (field.SequenceEqual("tags"u8)) { tags = ReadTags(ref reader, out error); if (tags is null) return null; }
                else if (field.SequenceEqual("content"u8) && trusted)
                {
                    if (reader.TokenType != JsonTokenType.String) { error = "content must be a string"; return null; }
                    content = [];   // not needed to match; the stored bytes carry it
                }
                else if (field.SequenceEqual("content"u8))
                {
                    if (reader.TokenType != JsonTokenType.String) { error = "content must be a string"; return null; }
                    content = ReadUtf8(ref reader);
                    // Sockets check UTF-8 already; callers that hand in bytes directly (Redis, import) may not.
                    if (!System.Text.Unicode.Utf8.IsValid(content)) { error = "content is not valid UTF-8"; return null; }
                }
                else reader.Skip();   // unknown fields are not part of the id; ignore them
            }
        }
        catch (InvalidOperationException)
        {
            // Utf8JsonReader refuses to unescape lone surrogates ("\ud800"): no client can sign that.
            error = "string contains invalid unicode escapes";
            return null;
        }

        if (id is null || pubkey is null || sig is null || createdAt is null || kind is null || tags is null || content is null)
        {
            error = "event must have id, pubkey, created_at, kind, tags, content and sig";
            return null;
        }

        if (trusted)
            return new NostrEvent
            {
                Id = id, Pubkey = pubkey, Sig = sig, CreatedAt = createdAt.Value, Kind = kind.Value, Tags = tags, Raw = stored.ToArray(),
            };

        // One scratch writer per thread: parsing is synchronous, and the id preimage and the
        // compact JSON are the same size class for every event, so nothing is allocated but Raw.
        var writer = t_scratch ??= new ArrayBufferWriter<byte>(4096);
        writer.ResetWrittenCount();
        CanonicalJson.WriteIdPreimage(writer, pubkey, createdAt.Value, kind.Value, tags, content);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(writer.WrittenSpan, hash);
        Span<char> hex = stackalloc char[64];
        Convert.TryToHexStringLower(hash, hex, out _);
        if (!hex.SequenceEqual(id)) { error = "event id does not match its contents"; return null; }

        writer.ResetWrittenCount();
        writer.Write("{\"id\":\""u8); CanonicalJson.WriteAscii(writer, id);
        writer.Write("\",\"pubkey\":\""u8); CanonicalJson.WriteAscii(writer, pubkey);
        writer.Write("\",\"created_at\":"u8); CanonicalJson.WriteInt64(writer, createdAt.Value);
        writer.Write(",\"kind\":"u8); CanonicalJson.WriteInt64(writer, kind.Value);
        writer.Write(",\"tags\":"u8); CanonicalJson.WriteTags(writer, tags);
        writer.Write(",\"content\":"u8); CanonicalJson.WriteUtf8String(writer, content);
        writer.Write(",\"sig\":\""u8); CanonicalJson.WriteAscii(writer, sig);
        writer.Write("\"}"u8);

        return new NostrEvent
        {
            Id = id, Pubkey = pubkey, Sig = sig, CreatedAt = createdAt.Value, Kind = kind.Value, Tags = tags, ContentLength = content.Length,
            Raw = writer.WrittenSpan.ToArray(),
        };
    }

    /// Parses a whole JSON text holding one event object (used by import, tests and tools).
    public static NostrEvent? TryParse(ReadOnlySpan<byte> json, out string? error)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read()) { error = "empty"; return null; }
            return TryParse(ref reader, out error);
        }
        catch (JsonException) { error = "malformed JSON"; return null; }
    }

    // JSON numbers like 1e3 or 1.0 are integers to TryGetInt64 in some cases; NIP-01 ids are computed
    // from the integer text, so only plain digits are accepted.
    private static bool IsPlainInteger(ReadOnlySpan<byte> number)
    {
        foreach (var b in number) if (b is < (byte)'0' or > (byte)'9') return false;
        return number.Length > 0;
    }

    private static bool TryHex(ref Utf8JsonReader reader, int length, out string? value)
    {
        value = null;
        if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped) return false;
        var span = reader.ValueSpan;
        if (span.Length != length) return false;
        foreach (var b in span)
            if (!(b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f')) return false;
        value = System.Text.Encoding.ASCII.GetString(span);
        return true;
    }

    private static byte[] ReadUtf8(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped) return reader.ValueSpan.ToArray();
        var buffer = new byte[reader.ValueSpan.Length];   // unescaping never grows the text
        var n = reader.CopyString(buffer);
        return buffer.AsSpan(0, n).ToArray();
    }

    private static string[][]? ReadTags(ref Utf8JsonReader reader, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartArray) { error = "tags must be an array of arrays of strings"; return null; }
        var tags = new List<string[]>();
        var values = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartArray) { error = "tags must be an array of arrays of strings"; return null; }
            values.Clear();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String) { error = "tags must be an array of arrays of strings"; return null; }
                values.Add(reader.GetString()!);
            }
            tags.Add(values.ToArray());
            if (tags.Count > MaxTags) { error = $"too many tags (max {MaxTags})"; return null; }
        }
        return tags.ToArray();
    }
}
