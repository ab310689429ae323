using System.Text;
using System.Text.Json;
using Relay.Storage.Model;

namespace Relay.Tests.Model;

/// What EventParser refuses. Most bad-events.json entries carry an id (and sig) computed over the
/// broken value, so only the shape checks stand between them and the database.
public sealed class EventParserTests
{
    private const string Pubkey = "f771877964fa2ce401d87bc2558a0df1e6921acef99389f059712b32cfda35fd";
    private const string Sig = "71387ff87564fc5da5626216c2fd1c3a47efadb7468912aee36ed63d650f62e32023ff63d8358fa4bff458aec04f08048ad5ffdaa4b4509ea8ca32d3d450d1d9";
    /// The "plain ascii" id vector, valid as is.
    private const string Plain =
        "{\"id\":\"bdd09fdfcf8ada0c1ac900972c9eaba8d74cd6a7b33ea14de8e12957a47f7d46\",\"pubkey\":\"" + Pubkey +
        "\",\"created_at\":1700000000,\"kind\":1,\"tags\":[],\"content\":\"hello world\",\"sig\":\"" + Sig + "\"}";

    /// Signature failures are found by SignatureVerifier, after parsing; the parser cannot see them.
    private const string SignatureOnly = "sig one bit flipped";

    private static readonly Lazy<Dictionary<string, string>> BadEvents = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Data", "bad-events.json")));
        return doc.RootElement.EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("json").GetString()!);
    });

    public static TheoryData<string> ShapeFailures()
    {
        var data = new TheoryData<string>();
        foreach (var name in BadEvents.Value.Keys.Where(n => n != SignatureOnly)) data.Add(name);
        return data;
    }

    private static NostrEvent? Parse(string json, out string? error) => EventParser.TryParse(Encoding.UTF8.GetBytes(json), out error);

    [Fact]
    public void Plain_event_is_accepted()
    {
        var ev = Parse(Plain, out var error);
        Assert.NotNull(ev);
        Assert.Null(error);
        Assert.Equal(1700000000, ev.CreatedAt);
        Assert.Equal(Pubkey, ev.Pubkey);
        Assert.Equal(Sig, ev.Sig);
    }

    [Theory]
    [MemberData(nameof(ShapeFailures))]
    public void Bad_event_is_rejected_with_a_reason(string name)
    {
        var ev = Parse(BadEvents.Value[name], out var error);
        Assert.Null(ev);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Signature_only_failure_parses_so_the_verifier_can_refuse_it()
    {
        Assert.Contains(SignatureOnly, BadEvents.Value.Keys);
        var ev = Parse(BadEvents.Value[SignatureOnly], out var error);
        Assert.True(ev is not null, $"rejected: {error}");
        Assert.NotEqual(Sig, ev.Sig);

        using var secp = new Secp256k1Net.Secp256k1();
        Assert.False(Relay.Server.Verify.SignatureVerifier.Verify(secp, ev));
        Assert.True(Relay.Server.Verify.SignatureVerifier.Verify(secp, Parse(Plain, out _)!));
    }

    [Theory]
    [InlineData("id uppercase hex", "id must be 64 lowercase hex")]
    [InlineData("pubkey 63 chars, id consistent", "pubkey must be 64 lowercase hex")]
    [InlineData("created_at as string", "created_at must be")]
    [InlineData("created_at negative", "created_at must be")]
    [InlineData("created_at fractional 1.5", "created_at must be")]
    [InlineData("kind as string", "kind must be")]
    [InlineData("kind negative", "kind must be")]
    [InlineData("kind 65536", "kind must be")]
    [InlineData("tags not array (object)", "tags must be")]
    [InlineData("tag element number", "tags must be")]
    [InlineData("content number", "content must be a string")]
    [InlineData("missing sig", "event must have")]
    [InlineData("id mismatch: content changed after signing", "event id does not match")]
    public void Rejection_names_the_field_at_fault(string name, string reason)
    {
        Assert.Null(Parse(BadEvents.Value[name], out var error));
        Assert.StartsWith(reason, error);
    }

    [Fact]
    public void Unknown_extra_fields_are_ignored()
    {
        var json = Plain.Insert(1, "\"relay\":\"wss://x\",\"nested\":{\"a\":[1,{\"b\":null}]},\"seen\":[true,false],");
        var ev = Parse(json, out var error);
        Assert.True(ev is not null, $"rejected: {error}");
        using var raw = JsonDocument.Parse(ev.Raw);
        Assert.False(raw.RootElement.TryGetProperty("relay", out _));
        Assert.False(raw.RootElement.TryGetProperty("nested", out _));
    }

    [Fact]
    public void Field_order_does_not_matter()
    {
        var json = "{\"sig\":\"" + Sig + "\",\"content\":\"hello world\",\"tags\":[],\"kind\":1,\"created_at\":1700000000,\"pubkey\":\"" + Pubkey +
                   "\",\"id\":\"bdd09fdfcf8ada0c1ac900972c9eaba8d74cd6a7b33ea14de8e12957a47f7d46\"}";
        Assert.NotNull(Parse(json, out _));
    }

    [Theory]
    [InlineData("1.7e9")]
    [InlineData("17e8")]
    [InlineData("1700000000.0")]
    [InlineData("1.7E9")]
    public void Created_at_written_as_a_non_integer_number_is_rejected(string number)
    {
        var json = Plain.Replace("1700000000", number, StringComparison.Ordinal);
        Assert.Null(Parse(json, out var error));
        Assert.StartsWith("created_at", error);
    }

    [Fact]
    public void Kind_written_with_an_exponent_is_rejected()
    {
        Assert.Null(Parse(Plain.Replace("\"kind\":1,", "\"kind\":1e0,", StringComparison.Ordinal), out var error));
        Assert.StartsWith("kind", error);
    }

    [Theory]
    [InlineData("\\ud800")]
    [InlineData("\\udc00")]
    [InlineData("a\\ud800b")]
    [InlineData("\\ud800\\ud800")]
    public void Escaped_lone_surrogate_in_content_is_rejected_without_throwing(string content)
    {
        var json = Plain.Replace("\"hello world\"", "\"" + content + "\"", StringComparison.Ordinal);
        var ev = Parse(json, out var error);
        Assert.Null(ev);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Escaped_lone_surrogate_in_a_tag_is_rejected_without_throwing()
    {
        var json = Plain.Replace("\"tags\":[]", "\"tags\":[[\"t\",\"\\udfff\"]]", StringComparison.Ordinal);
        Assert.Null(Parse(json, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Truncated_json_is_rejected_without_throwing_at_every_cut()
    {
        var bytes = Encoding.UTF8.GetBytes(Plain);
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            var ev = EventParser.TryParse(bytes.AsSpan(0, cut), out var error);
            Assert.Null(ev);
            Assert.False(string.IsNullOrEmpty(error), $"cut at {cut}: no reason");
        }
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"event\"")]
    [InlineData("null")]
    [InlineData("42")]
    [InlineData("")]
    [InlineData("   ")]
    public void Non_object_json_is_rejected(string json)
    {
        Assert.Null(Parse(json, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Escaped_hex_in_id_is_rejected_because_the_id_must_be_plain_lowercase_hex()
    {
        // \u0062 is 'b': the same string to a JSON reader, but not what NIP-01 asks clients to send.
        var json = Plain.Replace("\"id\":\"b", "\"id\":\"\\u0062", StringComparison.Ordinal);
        Assert.Null(Parse(json, out var error));
        Assert.StartsWith("id must be", error);
    }

    [Fact]
    public void More_than_the_maximum_number_of_tags_is_rejected()
    {
        var tags = string.Join(",", Enumerable.Repeat("[\"t\",\"x\"]", EventParser.MaxTags + 1));
        var json = Plain.Replace("\"tags\":[]", "\"tags\":[" + tags + "]", StringComparison.Ordinal);
        Assert.Null(Parse(json, out var error));
        Assert.Contains("too many tags", error);
    }

    [Fact]
    public void Content_escapes_are_decoded_before_hashing()
    {
        // "hello world" with every letter escaped hashes to the same id as the plain text.
        var json = Plain.Replace("\"hello world\"", "\"\\u0068ello\\u0020world\"", StringComparison.Ordinal);
        var ev = Parse(json, out var error);
        Assert.True(ev is not null, $"rejected: {error}");
        using var raw = JsonDocument.Parse(ev.Raw);
        Assert.Equal("hello world", raw.RootElement.GetProperty("content").GetString());
        Assert.Contains("\"content\":\"hello world\"", Encoding.UTF8.GetString(ev.Raw), StringComparison.Ordinal);
    }

    [Fact]
    public void Content_with_invalid_utf8_bytes_is_rejected_even_when_the_id_matches_them()
    {
        // A text frame is checked for UTF-8 by the socket, but imports call the span overload directly.
        byte[] content = [(byte)'h', 0xC3, 0x28, 0xFF];
        var preimage = new System.Buffers.ArrayBufferWriter<byte>();
        CanonicalJson.WriteIdPreimage(preimage, Pubkey, 1700000000, 1, [], content);
        var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(preimage.WrittenSpan));
        byte[] json =
        [
            .. Encoding.ASCII.GetBytes("{\"id\":\"" + id + "\",\"pubkey\":\"" + Pubkey + "\",\"created_at\":1700000000,\"kind\":1,\"tags\":[],\"content\":\""),
            .. content,
            .. Encoding.ASCII.GetBytes("\",\"sig\":\"" + Sig + "\"}"),
        ];

        var ev = EventParser.TryParse(json, out var error);
        Assert.Null(ev);
        Assert.False(string.IsNullOrEmpty(error));
    }
    [Fact]
    public void An_event_from_the_bus_reads_as_the_full_parse_of_the_same_stored_JSON()
    {
        using var signer = EventSigner.FromSeed("bus");
        string[][][] tagSets = [[], [["e", new string('a', 64)], ["p", signer.Pubkey, "wss://r"]], [["d", "x\"y\u00e9"], ["t", "a"], ["expiration", "99"]]];
        var random = new Random(5);
        for (var i = 0; i < 200; i++)
        {
            var raw = signer.SignEvent(random.Next(0, 40000), $"content {i} \"quoted\" \n é 😀", tagSets[i % 3], 1_700_000_000 + random.Next(1000)).Raw;
            var full = EventParser.TryParse(raw, out _)!;
            var fromBus = EventParser.FromStored(raw)!;
            Assert.Equal((full.Id, full.Pubkey, full.Sig, full.CreatedAt, full.Kind, full.DTag, full.Expiration), (fromBus.Id, fromBus.Pubkey, fromBus.Sig, fromBus.CreatedAt, fromBus.Kind, fromBus.DTag, fromBus.Expiration));
            Assert.Equal(full.Tags, fromBus.Tags);
            Assert.Equal(raw, fromBus.Raw);
        }
        Assert.Null(EventParser.FromStored("{\"id\":"u8));   // truncated: dropped, not thrown
    }
}
