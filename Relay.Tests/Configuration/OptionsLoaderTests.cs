using Relay.Server.Configuration;

namespace Relay.Tests.Configuration;

/// Settings as operators write them (nostpy's True/False, npub keys), and a clear stop for bad ones.
public sealed class OptionsLoaderTests
{
    private const string Hex = "f771877964fa2ce401d87bc2558a0df1e6921acef99389f059712b32cfda35fd";

    private static RelayOptions Load(params (string Key, string Value)[] env) =>
        OptionsLoader.Load(env.Append((Key: "DATABASE_URL", Value: "postgres://u@h/db")).ToDictionary(e => e.Key, e => e.Value), []);

    [Theory]
    [InlineData("True", true)]
    [InlineData("true", true)]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    [InlineData("False", false)]
    [InlineData("0", false)]
    [InlineData("NO", false)]
    public void WOT_ENABLED_accepts_nostpy_spellings(string value, bool expected) =>
        Assert.Equal(expected, Load(("WOT_ENABLED", value), ("ADMIN_PUBKEY", Hex)).WotEnabled);

    [Fact]
    public void WoT_is_off_by_default() => Assert.False(Load().WotEnabled);

    [Fact]
    public void ADMIN_PUBKEY_as_npub_is_decoded_to_hex()
    {
        // NIP-19's own example pair.
        var o = Load(("ADMIN_PUBKEY", "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"));
        Assert.Equal("7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e", o.AdminPubkey);
    }

    [Theory]
    [InlineData("ADMIN_PUBKEY", "npub1notakey")]
    [InlineData("ADMIN_PUBKEY", "abc")]
    [InlineData("WOT_ENABLED", "maybe")]
    [InlineData("WOT_DEPTH", "5")]
    [InlineData("TRUSTED_PROXIES", "10.0.0.0/40")]
    [InlineData("EVENTS_PER_SECOND_PER_IP", "fast")]
    [InlineData("WOT_SEED_RELAYS", "http://relay.example.com")]
    [InlineData("PRIVATE_KINDS", "4,dm")]
    public void Malformed_setting_stops_start_up_naming_it(string key, string value)
    {
        var e = Assert.Throws<OptionsException>(() => key == "ADMIN_PUBKEY" ? Load((key, value)) : Load((key, value), ("ADMIN_PUBKEY", Hex)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void WoT_without_an_admin_stops_start_up()
    {
        var e = Assert.Throws<OptionsException>(() => Load(("WOT_ENABLED", "True")));
        Assert.Contains("ADMIN_PUBKEY", e.Message);
    }

    [Fact]
    public void Private_kinds_add_to_the_defaults() =>
        Assert.Equal([4, 1059, 1060, 14], Load(("PRIVATE_KINDS", "14")).PrivateKinds);
}
