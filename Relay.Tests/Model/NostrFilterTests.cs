using System.Text;
using System.Text.Json;
using CsCheck;
using Relay.Storage.Model;

namespace Relay.Tests.Model;

/// NIP-01 filters: what FilterParser accepts from a REQ, and which events NostrFilter.Matches selects.
public sealed class NostrFilterTests
{
    private static readonly string IdA = new('a', 64);
    private static readonly string IdB = new('b', 64);
    private static readonly string KeyA = new('1', 64);
    private static readonly string KeyB = new('2', 64);

    private static NostrFilter? Parse(string json, out string? error)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
        reader.Read();
        return FilterParser.TryParse(ref reader, out error);
    }

    private static NostrFilter ParseOk(string json)
    {
        var f = Parse(json, out var error);
        Assert.True(f is not null, $"rejected {json}: {error}");
        return f;
    }

    private static NostrEvent Event(string? id = null, string? pubkey = null, int kind = 1, long createdAt = 1000, params string[][] tags) => new()
    {
        Id = id ?? IdA, Pubkey = pubkey ?? KeyA, Sig = new string('0', 128), CreatedAt = createdAt, Kind = kind, Tags = tags, Raw = [],
    };

    // ---- FilterParser ----

    [Fact]
    public void Parser_accepts_every_NIP01_field()
    {
        var f = ParseOk($"{{\"ids\":[\"{IdA}\"],\"authors\":[\"{KeyA}\",\"{KeyB}\"],\"kinds\":[0,1,65535],\"#e\":[\"{IdB}\"],\"#p\":[\"{KeyB}\"],\"since\":10,\"until\":20,\"limit\":5}}");
        Assert.Equal(new[] { IdA }, f.Ids);
        Assert.Equal(new[] { KeyA, KeyB }, f.Authors);
        Assert.Equal(new[] { 0, 1, 65535 }, f.Kinds);
        Assert.Equal(10, f.Since);
        Assert.Equal(20, f.Until);
        Assert.Equal(5, f.Limit);
        Assert.Equal(2, f.Tags.Length);
        Assert.Contains(f.Tags, t => t.Name == 'e' && t.Values.SequenceEqual([IdB]));
        Assert.Contains(f.Tags, t => t.Name == 'p' && t.Values.SequenceEqual([KeyB]));
        Assert.False(f.MatchesNothing);
    }

    [Fact]
    public void Empty_filter_has_no_conditions()
    {
        var f = ParseOk("{}");
        Assert.Null(f.Ids);
        Assert.Null(f.Authors);
        Assert.Null(f.Kinds);
        Assert.Null(f.Since);
        Assert.Null(f.Until);
        Assert.Null(f.Limit);
        Assert.Empty(f.Tags);
        Assert.True(f.Matches(Event()));
    }

    [Fact]
    public void Tag_filter_values_are_free_text_not_hex()
    {
        var f = ParseOk("{\"#t\":[\"nostr\",\"Ünïcode\"],\"#d\":[\"\"]}");
        Assert.Contains(f.Tags, t => t.Name == 't' && t.Values.SequenceEqual(["nostr", "Ünïcode"]));
        Assert.Contains(f.Tags, t => t.Name == 'd' && t.Values.SequenceEqual([""]));
    }

    [Theory]
    [InlineData("{\"search\":\"x\"}")]
    [InlineData("{\"kind\":[1]}")]
    [InlineData("{\"#\":[\"x\"]}")]
    [InlineData("{\"#ee\":[\"x\"]}")]
    [InlineData("{\"#1\":[\"x\"]}")]
    [InlineData("{\"e\":[\"x\"]}")]
    public void Parser_rejects_unknown_fields(string json)
    {
        Assert.Null(Parse(json, out var error));
        Assert.StartsWith("unsupported filter field", error);
    }

    [Theory]
    [InlineData("ids")]
    [InlineData("authors")]
    public void Parser_rejects_ids_and_authors_that_are_not_64_lowercase_hex(string field)
    {
        foreach (var bad in new[] { new string('A', 64), "aB" + new string('a', 62), new string('a', 63), new string('a', 65), "abcd", "", new string('g', 64) })
        {
            Assert.Null(Parse($"{{\"{field}\":[\"{bad}\"]}}", out var error));
            Assert.StartsWith(field, error);
        }
        Assert.Null(Parse($"{{\"{field}\":\"{IdA}\"}}", out _));   // a string, not an array
        Assert.Null(Parse($"{{\"{field}\":[1]}}", out _));
    }

    [Theory]
    [InlineData("[1.5]")]
    [InlineData("[\"1\"]")]
    [InlineData("[65536]")]
    [InlineData("[-1]")]
    [InlineData("[1,null]")]
    [InlineData("[4294967297]")]
    [InlineData("1")]
    public void Parser_rejects_kinds_that_are_not_integers_from_0_to_65535(string kinds)
    {
        Assert.Null(Parse($"{{\"kinds\":{kinds}}}", out var error));
        Assert.StartsWith("kinds", error);
    }

    [Theory]
    [InlineData("since", "-1")]
    [InlineData("until", "-1")]
    [InlineData("since", "\"10\"")]
    [InlineData("since", "1.5")]
    [InlineData("until", "null")]
    [InlineData("limit", "-1")]
    [InlineData("limit", "\"5\"")]
    public void Parser_rejects_negative_or_non_integer_numbers(string field, string value)
    {
        Assert.Null(Parse($"{{\"{field}\":{value}}}", out var error));
        Assert.StartsWith(field, error);
    }

    [Fact]
    public void Parser_rejects_a_tag_filter_given_twice()
    {
        Assert.Null(Parse("{\"#e\":[\"x\"],\"#e\":[\"y\"]}", out var error));
        Assert.Contains("duplicate", error);
    }

    [Fact]
    public void Parser_rejects_a_filter_that_is_not_an_object()
    {
        Assert.Null(Parse("[]", out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Parser_rejects_more_than_the_maximum_values_in_a_field()
    {
        var kinds = string.Join(",", Enumerable.Range(0, FilterParser.MaxValuesPerField + 1));
        Assert.Null(Parse($"{{\"kinds\":[{kinds}]}}", out var error));
        Assert.Contains("more than", error);
    }

    [Fact]
    public void Huge_limit_is_clamped_not_rejected()
    {
        Assert.Equal(int.MaxValue, ParseOk("{\"limit\":9999999999}").Limit);
    }

    // ---- NostrFilter.Matches ----

    [Fact]
    public void Ids_condition_selects_by_event_id()
    {
        var f = new NostrFilter { Ids = [IdB] };
        Assert.True(f.Matches(Event(id: IdB)));
        Assert.False(f.Matches(Event(id: IdA)));
    }

    [Fact]
    public void Authors_condition_selects_by_pubkey()
    {
        var f = new NostrFilter { Authors = [KeyB] };
        Assert.True(f.Matches(Event(pubkey: KeyB)));
        Assert.False(f.Matches(Event(pubkey: KeyA)));
    }

    [Fact]
    public void Kinds_condition_selects_by_kind()
    {
        var f = new NostrFilter { Kinds = [7] };
        Assert.True(f.Matches(Event(kind: 7)));
        Assert.False(f.Matches(Event(kind: 1)));
    }

    [Fact]
    public void Since_and_until_are_inclusive_bounds()
    {
        var f = new NostrFilter { Since = 100, Until = 200 };
        Assert.False(f.Matches(Event(createdAt: 99)));
        Assert.True(f.Matches(Event(createdAt: 100)));
        Assert.True(f.Matches(Event(createdAt: 200)));
        Assert.False(f.Matches(Event(createdAt: 201)));
    }

    [Fact]
    public void Values_within_a_field_are_ORed()
    {
        var f = new NostrFilter { Kinds = [1, 7], Authors = [KeyA, KeyB] };
        Assert.True(f.Matches(Event(kind: 1, pubkey: KeyA)));
        Assert.True(f.Matches(Event(kind: 7, pubkey: KeyB)));
        Assert.False(f.Matches(Event(kind: 2, pubkey: KeyA)));
    }

    [Fact]
    public void Fields_are_ANDed()
    {
        var f = new NostrFilter { Kinds = [1], Authors = [KeyA] };
        Assert.True(f.Matches(Event(kind: 1, pubkey: KeyA)));
        Assert.False(f.Matches(Event(kind: 1, pubkey: KeyB)));
        Assert.False(f.Matches(Event(kind: 2, pubkey: KeyA)));
    }

    [Fact]
    public void Tag_condition_matches_the_first_value_of_a_single_letter_tag()
    {
        var f = new NostrFilter { Tags = [('e', [IdB])] };
        Assert.True(f.Matches(Event(tags: [["e", IdB, "wss://relay"]])));
        Assert.True(f.Matches(Event(tags: [["p", KeyA], ["e", IdA], ["e", IdB]])));
        Assert.False(f.Matches(Event(tags: [["e", IdA, IdB]])));        // only tag[1] counts
        Assert.False(f.Matches(Event(tags: [["ee", IdB]])));            // not a single-letter tag
        Assert.False(f.Matches(Event(tags: [["E", IdB]])));             // letters are case-sensitive
        Assert.False(f.Matches(Event(tags: [["e"]])));                  // no value
        Assert.False(f.Matches(Event()));
    }

    [Fact]
    public void Two_tag_conditions_must_both_hold()
    {
        var f = new NostrFilter { Tags = [('e', [IdB]), ('t', ["nostr", "relay"])] };
        Assert.True(f.Matches(Event(tags: [["e", IdB], ["t", "relay"]])));
        Assert.False(f.Matches(Event(tags: [["e", IdB]])));
        Assert.False(f.Matches(Event(tags: [["t", "nostr"]])));
    }

    [Theory]
    [InlineData("{\"ids\":[]}")]
    [InlineData("{\"authors\":[]}")]
    [InlineData("{\"kinds\":[]}")]
    [InlineData("{\"#e\":[]}")]
    [InlineData("{\"since\":11,\"until\":10}")]
    public void Empty_list_or_since_after_until_matches_nothing(string json)
    {
        var f = ParseOk(json);
        Assert.True(f.MatchesNothing);
        foreach (var e in new[] { Event(createdAt: 10), Event(createdAt: 11), Event(tags: [["e", IdA]]) })
            Assert.False(f.Matches(e));
    }

    [Fact]
    public void Since_equal_to_until_is_not_empty()
    {
        var f = ParseOk("{\"since\":10,\"until\":10}");
        Assert.False(f.MatchesNothing);
        Assert.True(f.Matches(Event(createdAt: 10)));
    }

    // ---- Property: a filter built from an event's own fields selects it ----

    private static readonly Gen<string> Hex64 = Gen.Char["0123456789abcdef"].Array[64].Select(a => new string(a));
    /// Printable ASCII (quotes and backslashes included) plus a few non-ASCII characters.
    private static readonly Gen<string> Text = Gen.Char[" !\"#\\/09:AZaz{}~\u00e9\u2028\u4e2d"].Array[0, 8].Select(a => new string(a));
    private static readonly Gen<string[]> Tag = Gen.Select(
        Gen.OneOf(Gen.Char['a', 'z'].Select(c => c.ToString()), Gen.Char['A', 'Z'].Select(c => c.ToString()), Text),
        Text.Array[0, 3],
        (name, rest) => (string[])[name, .. rest]);
    private static readonly Gen<NostrEvent> Events = Gen.Select(Hex64, Hex64, Gen.Int[0, Kinds.Max], Gen.Long[0, 4_102_444_800L], Tag.Array[0, 6],
        (id, pubkey, kind, at, tags) => Event(id, pubkey, kind, at, tags));

    [Fact]
    public void Filter_from_an_events_own_fields_matches_it()
    {
        Gen.Select(Events, Gen.Bool.Array[8], Hex64).Sample((e, use, other) =>
        {
            var json = new StringBuilder("{");
            void Field(string name, string value) => json.Append(json.Length > 1 ? "," : "").Append('"').Append(name).Append("\":").Append(value);
            string Str(string s) => JsonSerializer.Serialize(s);
            if (use[0]) Field("ids", $"[{Str(other)},{Str(e.Id)}]");
            if (use[1]) Field("authors", $"[{Str(e.Pubkey)},{Str(other)}]");
            if (use[2]) Field("kinds", $"[{e.Kind},{(e.Kind + 1) % 65536}]");
            if (use[3]) Field("since", e.CreatedAt.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (use[4]) Field("until", e.CreatedAt.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (use[5]) Field("limit", "1");
            if (use[6] || use[7])
                foreach (var g in e.IndexedTags().GroupBy(t => t.Name))
                    Field("#" + g.Key, "[" + string.Join(",", g.Select(t => Str(t.Value)).Append(Str("other"))) + "]");

            var f = ParseOk(json.Append('}').ToString());
            Assert.False(f.MatchesNothing);
            Assert.True(f.Matches(e), $"{json} does not match its own event");
        });
    }

    [Fact]
    public void Changing_any_one_field_of_the_event_breaks_the_match()
    {
        Gen.Select(Events, Gen.Int[0, 3]).Sample((e, which) =>
        {
            var f = new NostrFilter { Ids = [e.Id], Authors = [e.Pubkey], Kinds = [e.Kind], Since = e.CreatedAt, Until = e.CreatedAt };
            Assert.True(f.Matches(e));
            var changed = which switch
            {
                0 => Event(e.Id == IdA ? IdB : IdA, e.Pubkey, e.Kind, e.CreatedAt, e.Tags),
                1 => Event(e.Id, e.Pubkey == KeyA ? KeyB : KeyA, e.Kind, e.CreatedAt, e.Tags),
                2 => Event(e.Id, e.Pubkey, (e.Kind + 1) % 65536, e.CreatedAt, e.Tags),
                _ => Event(e.Id, e.Pubkey, e.Kind, e.CreatedAt + 1, e.Tags),
            };
            Assert.False(f.Matches(changed));
        });
    }

    // ---- Kinds ----

    [Theory]
    [InlineData(0, KindClass.Replaceable)]
    [InlineData(1, KindClass.Regular)]
    [InlineData(3, KindClass.Replaceable)]
    [InlineData(9999, KindClass.Regular)]
    [InlineData(10000, KindClass.Replaceable)]
    [InlineData(19999, KindClass.Replaceable)]
    [InlineData(20000, KindClass.Ephemeral)]
    [InlineData(29999, KindClass.Ephemeral)]
    [InlineData(30000, KindClass.Addressable)]
    [InlineData(39999, KindClass.Addressable)]
    [InlineData(40000, KindClass.Regular)]
    [InlineData(65535, KindClass.Regular)]
    public void Kind_ranges_follow_NIP01(int kind, KindClass expected)
    {
        Assert.Equal(expected, Kinds.Classify(kind));
    }
}
