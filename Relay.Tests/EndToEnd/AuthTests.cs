using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// NIP-42 authentication, NIP-70 protected events, AUTH_REQUIRED_FOR_*, and private kinds
/// served only to their author or recipient, as clients (nostr-tools, NDK) meet them.
public sealed class AuthTests
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Fact]
    public async Task Every_connection_gets_its_own_challenge_first()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var a = await relay.ConnectAsync();
        await using var b = await relay.ConnectAsync();
        Assert.Equal(32, a.Challenge.Length);
        Assert.NotEqual(a.Challenge, b.Challenge);
    }

    [Fact]
    public async Task Valid_AUTH_is_accepted_and_a_connection_may_authenticate_several_pubkeys()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { AuthRequiredForWrite = true });
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();

        await client.AuthenticateAsAsync(alice, relay.Options.RelayUrl);
        await client.AuthenticateAsAsync(bob, relay.Options.RelayUrl);

        await client.PublishAcceptedAsync(alice.Sign(1, "from alice"), bob.Sign(1, "from bob"));
    }

    [Fact]
    public async Task Relay_tag_matches_whatever_the_scheme_or_a_trailing_slash()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { RelayUrl = "wss://relay.example.com" });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var (ok, message) = await client.AuthenticateAsync(s.AuthEvent(client.Challenge, "ws://Relay.Example.com/"));
        Assert.True(ok, message);
    }

    public static TheoryData<string, string> BadAuth => new()
    {
        { "wrong challenge", "challenge" },
        { "another relay", "relay" },
        { "created_at 11 minutes ago", "old" },
        { "wrong kind", "kind" },
        { "bad signature", "sig" },
    };

    [Theory]
    [MemberData(nameof(BadAuth))]
    public async Task Bad_AUTH_is_refused_invalid_and_authenticates_nobody(string name, string fault)
    {
        _ = name;
        await using var relay = await TestRelay.StartAsync(o => o with { AuthRequiredForWrite = true });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var auth = fault switch
        {
            "challenge" => s.AuthEvent("not-the-challenge", relay.Options.RelayUrl),
            "relay" => s.AuthEvent(client.Challenge, "wss://elsewhere.example.com"),
            "old" => s.AuthEvent(client.Challenge, relay.Options.RelayUrl, Now - 660),
            "kind" => s.AuthEvent(client.Challenge, relay.Options.RelayUrl, kind: 1),
            _ => FlipHexChar(s.AuthEvent(client.Challenge, relay.Options.RelayUrl), "sig"),
        };

        var (ok, message) = await client.AuthenticateAsync(auth);

        Assert.False(ok);
        Assert.StartsWith("invalid:", message);
        var (accepted, why) = await client.PublishAsync(s.Sign(1, "after a failed AUTH"));
        Assert.False(accepted);
        Assert.StartsWith("auth-required:", why);
    }

    [Fact]
    public async Task Protected_event_is_accepted_only_from_its_authenticated_author()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var author = EventSigner.Random();
        using var other = EventSigner.Random();
        var protectedEvent = author.Sign(1, "only from me", [["-"]]);

        var (ok, message) = await client.PublishAsync(protectedEvent);
        Assert.False(ok);
        Assert.StartsWith("auth-required:", message);

        await client.AuthenticateAsAsync(other, relay.Options.RelayUrl);
        (ok, message) = await client.PublishAsync(protectedEvent);
        Assert.False(ok);
        Assert.StartsWith("restricted:", message);

        await client.AuthenticateAsAsync(author, relay.Options.RelayUrl);
        await client.PublishAcceptedAsync(protectedEvent);
        Assert.Equal([IdOf(protectedEvent)], await client.QueryIdsAsync("p", $$"""{"ids":["{{IdOf(protectedEvent)}}"]}"""));
    }

    [Fact]
    public async Task AUTH_required_for_read_closes_REQ_and_COUNT_until_the_client_authenticates()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { AuthRequiredForRead = true });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "hello"));

        Assert.StartsWith("auth-required:", await client.ReqClosedAsync("r", """{"kinds":[1]}"""));
        await client.SendAsync("""["COUNT","c",{"kinds":[1]}]""");
        var closed = await client.ReadUntilAsync("CLOSED", "c");
        Assert.StartsWith("auth-required:", closed[2].GetString());

        await client.AuthenticateAsAsync(s, relay.Options.RelayUrl);
        Assert.Single(await client.QueryIdsAsync("r2", """{"kinds":[1]}"""));
    }

    [Fact]
    public async Task Private_kinds_are_served_only_to_their_author_or_tagged_recipient_stored_and_live()
    {
        await using var relay = await TestRelay.StartAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        using var eve = EventSigner.Random();
        await using var aliceClient = await relay.ConnectAsync();
        await using var bobClient = await relay.ConnectAsync();
        await using var eveClient = await relay.ConnectAsync();
        var dm = alice.Sign(4, "ciphertext", [["p", bob.Pubkey]]);
        await aliceClient.PublishAcceptedAsync(dm);
        var filter = """{"kinds":[4]}""";

        // Unauthenticated: closed, so the client authenticates and retries.
        Assert.StartsWith("auth-required:", await eveClient.ReqClosedAsync("dm", filter));

        // Authenticated as someone else: nothing, neither stored nor live.
        await eveClient.AuthenticateAsAsync(eve, relay.Options.RelayUrl);
        Assert.Empty(await eveClient.QueryIdsAsync("dm", filter));

        // The recipient and the author see it.
        await bobClient.AuthenticateAsAsync(bob, relay.Options.RelayUrl);
        Assert.Equal([IdOf(dm)], await bobClient.QueryIdsAsync("dm", filter));
        await aliceClient.AuthenticateAsAsync(alice, relay.Options.RelayUrl);
        Assert.Equal([IdOf(dm)], await aliceClient.QueryIdsAsync("dm", filter));

        // COUNT can't filter what it counts: only over one's own.
        await eveClient.SendAsync($$"""["COUNT","c",{"kinds":[4],"#p":["{{bob.Pubkey}}"]}]""");
        Assert.StartsWith("restricted:", (await eveClient.ReadUntilAsync("CLOSED", "c"))[2].GetString());
        await bobClient.SendAsync($$"""["COUNT","c",{"kinds":[4],"#p":["{{bob.Pubkey}}"]}]""");
        Assert.Equal(1, (await bobClient.ReadUntilAsync("COUNT", "c"))[2].GetProperty("count").GetInt32());
        // Naming no kinds hides nothing… except the private ones, for others.
        await eveClient.SendAsync($$"""["COUNT","c2",{"authors":["{{alice.Pubkey}}"],"#p":["{{bob.Pubkey}}"]}]""");
        Assert.Equal(0, (await eveClient.ReadUntilAsync("COUNT", "c2"))[2].GetProperty("count").GetInt32());
        await bobClient.SendAsync($$"""["COUNT","c2",{"authors":["{{alice.Pubkey}}"],"#p":["{{bob.Pubkey}}"]}]""");
        Assert.Equal(1, (await bobClient.ReadUntilAsync("COUNT", "c2"))[2].GetProperty("count").GetInt32());

        // A filter that does not name the kind still never leaks it to others.
        Assert.Empty(await eveClient.QueryIdsAsync("all", $$"""{"authors":["{{alice.Pubkey}}"]}"""));

        // Live: bob gets the next one, eve does not (she gets the public note sent after it).
        var dm2 = alice.Sign(4, "ciphertext 2", [["p", bob.Pubkey]]);
        var note = alice.Sign(1, "public");
        await aliceClient.PublishAcceptedAsync(dm2, note);
        var toBob = await bobClient.ReadUntilAsync("EVENT", "dm");
        Assert.Equal(IdOf(dm2), toBob[2].GetProperty("id").GetString());
        var skipped = new List<System.Text.Json.JsonElement>();
        var toEve = await eveClient.ReadUntilAsync("EVENT", "all", skipped);
        Assert.Equal(IdOf(note), toEve[2].GetProperty("id").GetString());
        Assert.DoesNotContain(skipped, m => m[0].GetString() == "EVENT");
    }
}
