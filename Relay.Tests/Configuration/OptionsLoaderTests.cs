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
    public void DATABASE_READ_URL_takes_several_replicas_and_refuses_a_bad_one_without_showing_its_password()
    {
        Assert.Equal(["postgres://r@replica1/db", "postgres://r@replica2:5433/db"],
            Load(("DATABASE_READ_URL", "postgres://r@replica1/db, postgres://r@replica2:5433/db")).DatabaseReadUrls);
        Assert.Empty(Load().DatabaseReadUrls);
        var e = Assert.Throws<OptionsException>(() => Load(("DATABASE_READ_URL", "postgres://r:s3cret-pw@replica1/db?sslmode=sometimes")));
        Assert.Contains("DATABASE_READ_URL", e.Message);
        Assert.DoesNotContain("s3cret-pw", e.Message);
    }

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
    public void Every_setting_is_also_a_flag_and_flags_win()
    {
        var env = new Dictionary<string, string> { ["DATABASE_URL"] = "postgres://u@h/db", ["MAX_LIMIT"] = "100" };
        var o = OptionsLoader.Load(env, ["--max-limit", "250", "--port", "9000", "--wot-depth", "3", "--log-format", "json",
            "--otel-exporter-otlp-endpoint", "http://collector:4317"]);
        Assert.Equal(250, o.MaxLimit);
        Assert.Equal(9000, o.Port);
        Assert.Equal(3, o.WotDepth);
        Assert.Equal("json", o.LogFormat);
        Assert.Equal("http://collector:4317", o.Telemetry["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }

    [Theory]
    [InlineData("--max-limt", "5", "unknown flag --max-limt")]
    [InlineData("--log-format", "xml", "LOG_FORMAT must be text or json")]
    [InlineData("--log-level", "loud", "LOG_LEVEL must be")]
    [InlineData("--otel-exporter-otlp-endpoint", "collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT must be an http")]
    [InlineData("--otel-exporter-otlp-protocol", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf")]
    [InlineData("--port", "eighty", "RELAY_PORT must be an integer")]
    public void A_bad_or_unknown_flag_stops_start_up_saying_what_is_wrong(string flag, string value, string message)
    {
        var e = Assert.Throws<OptionsException>(() => OptionsLoader.Load(new Dictionary<string, string> { ["DATABASE_URL"] = "postgres://u@h/db" }, [flag, value]));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Nostpy_database_settings_are_accepted_as_flags_too() =>
        Assert.Contains("Host=db", new Npgsql.NpgsqlConnectionStringBuilder(Relay.Storage.Postgres.DatabaseUrl.Parse(
            OptionsLoader.Load(new Dictionary<string, string>(), ["--postgres-host", "db", "--postgres-password", "pw"]).DatabaseUrl).ConnectionString).ConnectionString);

    [Fact]
    public void Nostpy_env_file_names_work_unchanged()
    {
        var o = OptionsLoader.Load(new Dictionary<string, string>
        {
            ["PGHOST_WRITE"] = "172.28.0.4", ["PGPORT_WRITE"] = "5432", ["PGUSER_WRITE"] = "nostr", ["PGPASSWORD_WRITE"] = "secret",
            ["PGDATABASE_WRITE"] = "nostr", ["REDIS_HOST"] = "redis", ["REDIS_PORT"] = "6380", ["WS_PORT"] = "8010", ["ICON"] = "https://example.com/i.png",
        }, []);
        Assert.Equal("postgres://nostr:secret@172.28.0.4:5432/nostr", o.DatabaseUrl);
        Assert.Equal("redis:6380", o.RedisUrl);
        Assert.Equal(8010, o.Port);
        Assert.Equal("https://example.com/i.png", o.Icon);
        Assert.Equal("postgresql://nostr:nostr@127.0.0.1:5432/nostr",
            OptionsLoader.Load(new Dictionary<string, string> { ["DB_CONN_STRING"] = "postgresql://nostr:nostr@127.0.0.1:5432/nostr" }, []).DatabaseUrl);
    }

    [Fact]
    public void Logs_mask_the_database_and_Redis_passwords_and_the_OTLP_header_values()
    {
        var o = OptionsLoader.Load(new Dictionary<string, string>
        {
            ["DATABASE_URL"] = "postgres://relay:db-pass+123@db:5432/relay",
            ["REDIS_URL"] = "redis://:redis-pass-456@redis:6379",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "x-api-key=otlp-key-789,x-team=ops",
        }, []);
        var text = new StringWriter();
        var masked = new Relay.Server.Observability.MaskingWriter(text, Relay.Server.Observability.RelayLogging.Secrets(o));
        masked.WriteLine("failed: password authentication for relay:db-pass+123, redis AUTH redis-pass-456, header otlp-key-789, team ops");
        masked.WriteLine("{\"Message\":\"relay:db-pass\\u002B123\"} postgres://relay:db-pass%2B123@db");
        Assert.Equal("failed: password authentication for relay:***, redis AUTH ***, header ***, team ops\n{\"Message\":\"relay:***\"} postgres://relay:***@db",
            text.ToString().TrimEnd().Replace("\r", ""));
    }

    [Fact]
    public void Private_kinds_add_to_the_defaults() =>
        Assert.Equal([4, 1059, 1060, 14], Load(("PRIVATE_KINDS", "14")).PrivateKinds);
}
