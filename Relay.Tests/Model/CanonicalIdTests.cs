using System.Buffers;
using System.Text;
using System.Text.Json;
using Relay.Storage.Model;

namespace Relay.Tests.Model;

/// NIP-01 id vectors produced by nostr-tools (Data/id-vectors.json): our serialisation must be
/// byte-for-byte what clients hash, or every event with that content is refused as "id mismatch".
public sealed class CanonicalIdTests
{
    private static readonly Lazy<Dictionary<string, (string Serialized, string EventJson)>> Vectors = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Data", "id-vectors.json")));
        var map = new Dictionary<string, (string, string)>();
        foreach (var v in doc.RootElement.EnumerateArray())
            map.Add(v.GetProperty("name").GetString()!, (v.GetProperty("serialized").GetString()!, v.GetProperty("event").GetRawText()));
        return map;
    });

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Vectors.Value.Keys) data.Add(name);
        return data;
    }

    [Fact]
    public void All_47_vectors_are_loaded()
    {
        Assert.Equal(47, Vectors.Value.Count);
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Vector_event_is_accepted_by_the_parser(string name)
    {
        var ev = EventParser.TryParse(Encoding.UTF8.GetBytes(Vectors.Value[name].EventJson), out var error);
        Assert.True(ev is not null, $"rejected: {error}");
        Assert.Null(error);
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Id_preimage_equals_the_nostr_tools_serialisation_byte_for_byte(string name)
    {
        var (serialized, eventJson) = Vectors.Value[name];
        using var doc = JsonDocument.Parse(eventJson);
        var e = doc.RootElement;
        var tags = e.GetProperty("tags").EnumerateArray()
            .Select(t => t.EnumerateArray().Select(v => v.GetString()!).ToArray()).ToArray();
        var w = new ArrayBufferWriter<byte>();
        CanonicalJson.WriteIdPreimage(w, e.GetProperty("pubkey").GetString()!, e.GetProperty("created_at").GetInt64(),
            e.GetProperty("kind").GetInt32(), tags, Encoding.UTF8.GetBytes(e.GetProperty("content").GetString()!));

        var expected = Encoding.UTF8.GetBytes(serialized);
        Assert.Equal(expected, w.WrittenSpan.ToArray());
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Raw_json_has_the_same_fields_and_values_as_the_input(string name)
    {
        var eventJson = Vectors.Value[name].EventJson;
        var ev = EventParser.TryParse(Encoding.UTF8.GetBytes(eventJson), out var error);
        Assert.True(ev is not null, $"rejected: {error}");

        using var input = JsonDocument.Parse(eventJson);
        using var raw = JsonDocument.Parse(ev.Raw);
        var a = input.RootElement;
        var b = raw.RootElement;
        Assert.Equal(
            a.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal),
            b.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var field in new[] { "id", "pubkey", "sig", "content" })
            Assert.Equal(a.GetProperty(field).GetString(), b.GetProperty(field).GetString());
        Assert.Equal(a.GetProperty("created_at").GetInt64(), b.GetProperty("created_at").GetInt64());
        Assert.Equal(a.GetProperty("kind").GetInt32(), b.GetProperty("kind").GetInt32());
        Assert.Equal(Tags(a), Tags(b));

        Assert.Equal(a.GetProperty("id").GetString(), ev.Id);
        Assert.Equal(a.GetProperty("kind").GetInt32(), ev.Kind);
        Assert.Equal(Tags(a), ev.Tags);
    }

    [Fact]
    public void Raw_json_stays_valid_json_when_content_holds_U0000()
    {
        var eventJson = Vectors.Value["content only U+0000"].EventJson;
        var ev = EventParser.TryParse(Encoding.UTF8.GetBytes(eventJson), out var error);
        Assert.True(ev is not null, $"rejected: {error}");

        using var raw = JsonDocument.Parse(ev.Raw);   // throws if the NUL was written unescaped
        Assert.Equal("\0", raw.RootElement.GetProperty("content").GetString());
        Assert.DoesNotContain((byte)0, ev.Raw);
    }

    [Fact]
    public void Raw_json_stays_valid_json_with_every_C0_control_in_content_and_tags()
    {
        foreach (var name in new[] { "content all C0 controls U+0000..U+001F", "tags with U+0000 in tag name and value" })
        {
            var ev = EventParser.TryParse(Encoding.UTF8.GetBytes(Vectors.Value[name].EventJson), out var error);
            Assert.True(ev is not null, $"{name} rejected: {error}");
            using var raw = JsonDocument.Parse(ev.Raw);
            Assert.All(ev.Raw, b => Assert.True(b >= 0x20, $"{name}: raw control byte 0x{b:x2}"));
        }
    }

    [Fact]
    public void Escapes_match_JSON_stringify_not_System_Text_Json()
    {
        var w = new ArrayBufferWriter<byte>();
        CanonicalJson.WriteString(w, "\"\\\n\r\t\b\f\u0001\u001f/<>&'\u007f\u2028é😀");
        Assert.Equal("\"\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f/<>&'\u007f\u2028é😀\"", Encoding.UTF8.GetString(w.WrittenSpan));
    }

    private static string[][] Tags(JsonElement e) =>
        e.GetProperty("tags").EnumerateArray().Select(t => t.EnumerateArray().Select(v => v.GetString()!).ToArray()).ToArray();
}
