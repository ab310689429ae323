using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Relay.Server;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// NIP-01 client messages and the replies they get: OK, NOTICE, CLOSED, COUNT.
public sealed class ProtocolTests
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Fact]
    public async Task Valid_event_gets_OK_true_with_its_id_and_an_empty_message()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "hello");

        await client.SendEventAsync(json);
        var ok = await client.NextAsync();

        Assert.Equal("OK", ok[0].GetString());
        Assert.Equal(IdOf(json), ok[1].GetString());
        Assert.True(ok[2].GetBoolean());
        Assert.Equal("", ok[3].GetString());
    }

    [Fact]
    public async Task Same_event_sent_twice_gets_OK_true_with_a_duplicate_prefix()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "twice");

        await client.PublishAcceptedAsync(json);
        var (accepted, message) = await client.PublishAsync(json);

        Assert.True(accepted);
        Assert.StartsWith("duplicate:", message);
        Assert.Single(await client.QueryAsync("s", $$"""{"ids":["{{IdOf(json)}}"]}"""));
    }

    [Fact]
    public async Task Event_stored_before_a_restart_is_a_duplicate_after_it()
    {
        await using var relay = await TestRelay.StartAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "survives a restart");
        await using (var client = await relay.ConnectAsync()) await client.PublishAcceptedAsync(json);
        await relay.StopAsync();

        // A second relay process on the same database: its in-memory caches are empty.
        await using var second = await RelayHost.StartAsync(relay.Options, NullLoggerFactory.Instance);
        await using var again = await RelayClient.ConnectAsync(new Uri($"ws://127.0.0.1:{second.Port}"));
        var (accepted, message) = await again.PublishAsync(json);

        Assert.True(accepted);
        Assert.StartsWith("duplicate:", message);
    }

    [Fact]
    public async Task Genuine_event_sent_while_a_forged_copy_is_being_verified_is_still_stored()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);
        using var s = EventSigner.Random();
        var genuine = s.Sign(1, "genuine");
        var forged = FlipHexChar(genuine, "sig", 17);   // same id, broken signature

        // One TCP write: the genuine copy is read while the forged one is still in the pipeline.
        await ws.SendAsync([.. RawWebSocket.Frame(RawFrame.Text, Encoding.UTF8.GetBytes($"[\"EVENT\",{forged}]")),
                            .. RawWebSocket.Frame(RawFrame.Text, Encoding.UTF8.GetBytes($"[\"EVENT\",{genuine}]"))]);
        var replies = new[] { await ws.ReadMessageAsync(), await ws.ReadMessageAsync() };
        await ws.SendTextAsync($$"""["REQ","check",{"ids":["{{IdOf(genuine)}}"]}]""");
        var served = await ws.ReadMessageAsync();

        Assert.All(replies, r => Assert.Equal("OK", r[0].GetString()));
        Assert.Contains(replies, r => r[2].GetBoolean());
        // An OK true promises the event is stored: it must be served.
        Assert.True(served[0].GetString() == "EVENT",
            $"genuine event not stored; replies were {string.Join(" ", replies.Select(r => r.GetRawText()))}, then {served.GetRawText()}");
    }

    [Fact]
    public async Task Event_with_a_bad_signature_gets_OK_false_invalid()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = FlipHexChar(signer.Sign(1, "forged"), "sig", 17);

        var (accepted, message) = await client.PublishAsync(json);

        Assert.False(accepted);
        Assert.StartsWith("invalid:", message);
        Assert.Empty(await client.QueryAsync("s", $$"""{"authors":["{{signer.Pubkey}}"]}"""));
    }

    [Fact]
    public async Task Event_whose_id_does_not_match_its_content_gets_OK_false_invalid_naming_that_id()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = WithField(signer.Sign(1, "original"), "content", "edited after signing");

        var (accepted, message) = await client.PublishAsync(json);

        Assert.False(accepted);
        Assert.StartsWith("invalid:", message);
    }

    [Fact]
    public async Task Event_signed_by_another_key_than_its_pubkey_gets_OK_false_invalid()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var author = EventSigner.Random();
        using var thief = EventSigner.Random();
        // The thief's sig over the thief's id, pasted on the author's event: id and sig don't belong together.
        var json = WithField(author.Sign(1, "mine"), "sig", JsonNode.Parse(thief.Sign(1, "mine"))!["sig"]!.GetValue<string>());

        var (accepted, message) = await client.PublishAsync(json);

        Assert.False(accepted);
        Assert.StartsWith("invalid:", message);
    }

    public static TheoryData<string, string, string> RecoverableSchemaErrors => new()
    {
        // name, field, replacement value as JSON ("" = remove the field)
        { "kind as a string", "kind", "\"1\"" },
        { "kind above 65535", "kind", "65536" },
        { "kind as a float", "kind", "1.5" },
        { "negative created_at", "created_at", "-1" },
        { "created_at as a string", "created_at", "\"1700000000\"" },
        { "created_at in exponent form", "created_at", "1.7e9" },
        { "tags not an array", "tags", "{}" },
        { "tag value not a string", "tags", "[[\"t\",1]]" },
        { "content not a string", "content", "42" },
        { "pubkey in uppercase hex", "pubkey", "UPPER" },
        { "short sig", "sig", "\"abcd\"" },
        { "missing sig", "sig", "" },
        { "missing tags", "tags", "" },
    };

    [Theory]
    [MemberData(nameof(RecoverableSchemaErrors))]
    public async Task Event_with_a_schema_error_but_a_readable_id_gets_OK_false_invalid_with_that_id(string name, string field, string valueJson)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var good = signer.Sign(1, "schema: " + name);
        var id = IdOf(good);
        var bad = valueJson switch
        {
            "" => WithField(good, field, null),
            "UPPER" => WithField(good, field, signer.Pubkey.ToUpperInvariant()),
            _ => WithField(good, field, JsonNode.Parse(valueJson)),
        };

        await client.SendEventAsync(bad);
        var reply = await client.NextAsync();

        Assert.Equal("OK", reply[0].GetString());
        Assert.Equal(id, reply[1].GetString());
        Assert.False(reply[2].GetBoolean());
        Assert.StartsWith("invalid:", reply[3].GetString());
    }

    public static TheoryData<string, string> UnrecoverableIds => new()
    {
        { "uppercase hex id", "UPPER" },
        { "short id", "\"abcdef\"" },
        { "id as a number", "7" },
        { "missing id", "" },
    };

    [Theory]
    [MemberData(nameof(UnrecoverableIds))]
    public async Task Event_whose_id_cannot_be_read_gets_a_NOTICE_and_the_connection_stays_usable(string name, string valueJson)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var good = signer.Sign(1, "bad id: " + name);
        var bad = valueJson switch
        {
            "" => WithField(good, "id", null),
            "UPPER" => WithField(good, "id", IdOf(good).ToUpperInvariant()),
            _ => WithField(good, "id", JsonNode.Parse(valueJson)),
        };

        await client.SendEventAsync(bad);
        var reply = await client.NextAsync();

        Assert.Equal("NOTICE", reply[0].GetString());
        Assert.StartsWith("invalid:", reply[1].GetString());
        await client.PublishAcceptedAsync(good);
    }

    [Fact]
    public async Task Event_dated_an_hour_in_the_future_gets_OK_false_invalid()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "from the future", createdAt: Now + 3600);

        var (accepted, message) = await client.PublishAsync(json);

        Assert.False(accepted);
        Assert.StartsWith("invalid:", message);
        Assert.Empty(await client.QueryAsync("s", $$"""{"authors":["{{signer.Pubkey}}"]}"""));
    }

    [Fact]
    public async Task Event_dated_a_minute_in_the_future_is_accepted_within_the_clock_skew_allowance()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();

        await client.PublishAcceptedAsync(signer.Sign(1, "slightly fast clock", createdAt: Now + 60));
    }

    [Fact]
    public async Task Event_whose_NIP40_expiration_has_passed_gets_OK_false()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "stale", [["expiration", (Now - 60).ToString()]]);

        var (accepted, message) = await client.PublishAsync(json);

        Assert.False(accepted, message);
        Assert.Empty(await client.QueryAsync("s", $$"""{"authors":["{{signer.Pubkey}}"]}"""));
    }

    [Fact]
    public async Task Event_whose_NIP40_expiration_is_ahead_is_accepted_and_served()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "fresh", [["expiration", (Now + 3600).ToString()]]);

        await client.PublishAcceptedAsync(json);

        Assert.Single(await client.QueryAsync("s", $$"""{"authors":["{{signer.Pubkey}}"]}"""));
    }

    [Fact]
    public async Task Event_larger_than_MaxEventBytes_gets_OK_false_invalid()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxEventBytes = 2000 });
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();

        var (accepted, message) = await client.PublishAsync(signer.Sign(1, new string('x', 3000)));

        Assert.False(accepted);
        Assert.StartsWith("invalid:", message);
    }

    public static TheoryData<string> MalformedMessages => new()
    {
        "not json at all",
        "[\"EVENT\",{\"id\":",
        "{\"EVENT\":1}",
        "\"EVENT\"",
        "42",
        "[]",
        "[1,2,3]",
        "[\"HELLO\",\"x\"]",
        "[\"event\",{}]",
        "[\"EVENT\"]",
        "[\"EVENT\",\"not an object\"]",
        "[\"CLOSE\"]",
        "[\"CLOSE\",1]",
    };

    [Theory]
    [MemberData(nameof(MalformedMessages))]
    public async Task Malformed_or_unknown_message_gets_a_NOTICE_and_a_later_EVENT_still_gets_OK(string message)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var signer = EventSigner.Random();

        await client.SendAsync(message);
        var reply = await client.NextAsync();

        Assert.Equal("NOTICE", reply[0].GetString());
        Assert.Equal(2, reply.GetArrayLength());
        await client.PublishAcceptedAsync(signer.Sign(1, "still here"));
    }

    public static TheoryData<string, string> InvalidFilters => new()
    {
        { "unknown field", """{"foo":1}""" },
        { "short hex in authors", """{"authors":["abcd"]}""" },
        { "uppercase hex in ids", $$"""{"ids":["{{new string('A', 64)}}"]}""" },
        { "kinds as strings", """{"kinds":["1"]}""" },
        { "negative limit", """{"limit":-1}""" },
        { "since as a string", """{"since":"yesterday"}""" },
        { "filter not an object", "[1]" },
        { "tag filter with a number", """{"#t":[1]}""" },
    };

    [Theory]
    [MemberData(nameof(InvalidFilters))]
    public async Task REQ_with_an_invalid_filter_gets_CLOSED_invalid(string name, string filter)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();

        await client.SendAsync($"[\"REQ\",\"bad\",{filter}]");
        var reply = await client.NextAsync();

        Assert.True(reply[0].GetString() == "CLOSED", $"{name}: got {reply}");
        Assert.Equal("bad", reply[1].GetString());
        Assert.StartsWith("invalid:", reply[2].GetString());
        // The connection is still usable.
        Assert.Empty(await client.QueryAsync("good", "{}"));
    }

    [Fact]
    public async Task REQ_with_no_filters_gets_CLOSED()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();

        await client.SendAsync("""["REQ","nofilters"]""");
        var reply = await client.NextAsync();

        Assert.Equal("CLOSED", reply[0].GetString());
        Assert.Equal("nofilters", reply[1].GetString());
        Assert.StartsWith("invalid:", reply[2].GetString());
    }

    [Fact]
    public async Task REQ_with_more_filters_than_MaxFilters_gets_CLOSED()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxFilters = 2 });
        await using var client = await relay.ConnectAsync();

        await client.SendAsync("""["REQ","many",{},{},{}]""");
        var reply = await client.NextAsync();

        Assert.Equal("CLOSED", reply[0].GetString());
        Assert.Equal("many", reply[1].GetString());
    }

    [Theory]
    [InlineData("a\"quoted\"id")]
    [InlineData("back\\slash")]
    [InlineData("€ and 🤙")]
    [InlineData("x")]
    public async Task Subscription_id_with_any_characters_is_echoed_exactly(string subId)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();

        // QueryAsync sends the id JSON-encoded and returns only on an EOSE naming exactly that id.
        Assert.Empty(await client.QueryAsync(subId, "{}"));
    }

    [Fact]
    public async Task Subscription_id_longer_than_the_limit_is_refused()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxSubIdLength = 8 });
        await using var client = await relay.ConnectAsync();

        await client.SendAsync("""["REQ","123456789",{}]""");
        var reply = await client.NextAsync();

        Assert.True(reply[0].GetString() is "CLOSED" or "NOTICE", reply.GetRawText());
        Assert.Contains("invalid:", reply.GetRawText());
        Assert.Empty(await client.QueryAsync("12345678", "{}"));
    }

    [Fact]
    public async Task Binary_frame_gets_a_NOTICE_and_a_later_EVENT_still_gets_OK()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var ws = await RawWebSocket.OpenAsync(relay.Port);
        using var signer = EventSigner.Random();
        var json = signer.Sign(1, "after binary");

        await ws.SendFrameAsync(RawFrame.Binary, Encoding.UTF8.GetBytes($"[\"EVENT\",{json}]"));
        var notice = await ws.ReadMessageAsync();
        await ws.SendTextAsync($"[\"EVENT\",{json}]");
        var ok = await ws.ReadMessageAsync();

        Assert.Equal("NOTICE", notice[0].GetString());
        Assert.Equal("OK", ok[0].GetString());
        Assert.Equal(IdOf(json), ok[1].GetString());
        Assert.True(ok[2].GetBoolean(), ok[3].GetString());
    }

    [Fact]
    public async Task COUNT_returns_the_number_of_matching_events()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        await client.PublishAcceptedAsync(alice.Sign(1, "a1"), alice.Sign(1, "a2"), alice.Sign(7, "+"), bob.Sign(1, "b1"));

        await client.SendAsync($$"""["COUNT","c1",{"authors":["{{alice.Pubkey}}"]}]""");
        var reply = await client.NextAsync();

        Assert.Equal(3, reply.GetArrayLength());
        Assert.Equal("COUNT", reply[0].GetString());
        Assert.Equal("c1", reply[1].GetString());
        Assert.Equal(3, reply[2].GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task COUNT_with_several_filters_counts_an_event_matching_both_once()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        await client.PublishAcceptedAsync(alice.Sign(1, "a1"), alice.Sign(7, "+"), bob.Sign(1, "b1"));

        await client.SendAsync($$"""["COUNT","c2",{"authors":["{{alice.Pubkey}}"]},{"kinds":[1]}]""");
        var reply = await client.NextAsync();

        Assert.Equal("COUNT", reply[0].GetString());
        Assert.Equal(3, reply[2].GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task COUNT_is_not_capped_by_max_limit()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxLimit = 3 });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(Enumerable.Range(0, 5).Select(i => s.Sign(1, $"n{i}")).ToArray());

        await client.SendAsync($$"""["COUNT","all",{"authors":["{{s.Pubkey}}"]}]""");
        var reply = await client.NextAsync();

        Assert.Equal("COUNT", reply[0].GetString());
        Assert.Equal(5, reply[2].GetProperty("count").GetInt64());
    }

    [Fact]
    public async Task COUNT_of_nothing_returns_zero()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();

        await client.SendAsync("""["COUNT","c3",{"kinds":[1]}]""");
        var reply = await client.NextAsync();

        Assert.Equal("COUNT", reply[0].GetString());
        Assert.Equal(0, reply[2].GetProperty("count").GetInt64());
    }
}
