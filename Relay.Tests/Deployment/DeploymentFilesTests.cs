using System.Text.RegularExpressions;
using Relay.Server.Configuration;
using Tomlyn;
using Tomlyn.Model;
using YamlDotNet.RepresentationModel;

namespace Relay.Tests.Deployment;

/// compose.yml and the Dokploy template, read with a YAML and a TOML parser: what an operator
/// deploying them relies on (no default password, databases on an internal network, the relay's
/// settings all valid, nostpy's variables passed through).
public sealed partial class DeploymentFilesTests
{
    private static string RepoFile(string path)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Relay.sln"))) return Path.Combine(dir.FullName, path);
        throw new FileNotFoundException("repository root not found");
    }

    private static YamlMappingNode Compose(string path)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(RepoFile(path))));
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node)[key];
    private static string[] List(YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(key, out var v) ? ((YamlSequenceNode)v).Select(n => ((YamlScalarNode)n).Value!).ToArray() : [];

    [GeneratedRegex(@"\$\{(?<name>[A-Z_0-9]+)(?<op>:-|:\?|-|\?)?(?<arg>[^}]*)\}")]
    private static partial Regex Interpolation();

    /// Compose's interpolation as `docker compose` does it with nothing set but <paramref name="set"/>:
    /// `${X:-default}` takes the default, `${X:?message}` without a value is an error (returned).
    private static (string Text, List<string> Errors) Interpolate(string text, IReadOnlyDictionary<string, string> set)
    {
        var errors = new List<string>();
        var result = Interpolation().Replace(text, m =>
        {
            var name = m.Groups["name"].Value;
            if (set.TryGetValue(name, out var v) && v.Length > 0) return v;
            if (m.Groups["op"].Value == ":?") { errors.Add($"{name}: {m.Groups["arg"].Value}"); return "x"; }
            return m.Groups["op"].Value == ":-" ? m.Groups["arg"].Value : "";
        });
        return (result, errors);
    }

    public static TheoryData<string> ComposeFiles => ["compose.yml", "dokploy/docker-compose.yml"];

    [Theory]
    [MemberData(nameof(ComposeFiles))]
    public void Relay_PostgreSQL_and_Redis_have_health_checks_and_the_databases_sit_on_an_internal_network(string path)
    {
        var root = Compose(path);
        var services = Map(root, "services");
        Assert.Equal(["postgres", "redis", "relay"], services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Order());
        foreach (var name in new[] { "relay", "postgres", "redis" })
            Assert.True(Map(services, name).Children.ContainsKey("healthcheck"), $"{path}: {name} has no healthcheck");
        Assert.Equal(["/app/relay", "healthcheck"], List(Map(Map(services, "relay"), "healthcheck"), "test")[1..]);

        var networks = Map(root, "networks");
        Assert.Equal("true", ((YamlScalarNode)Map(networks, "internal")["internal"]).Value);
        Assert.Equal(["internal"], List(Map(services, "postgres"), "networks"));
        Assert.Equal(["internal"], List(Map(services, "redis"), "networks"));
        var relayNetworks = List(Map(services, "relay"), "networks");
        Assert.Contains("internal", relayNetworks);
        var outside = Assert.Single(relayNetworks, n => n != "internal");
        Assert.Equal("true", ((YamlScalarNode)Map(networks, outside)["external"]).Value);
        Assert.Contains(Map(services, "postgres")["volumes"].AllNodes.OfType<YamlScalarNode>(), v => v.Value!.EndsWith(":/var/lib/postgresql/data"));
    }

    [Theory]
    [MemberData(nameof(ComposeFiles))]
    public void Compose_refuses_to_start_without_a_database_password_and_never_defaults_one(string path)
    {
        var text = File.ReadAllText(RepoFile(path));
        var uses = Interpolation().Matches(text).Where(m => m.Groups["name"].Value == "POSTGRES_PASSWORD").ToList();
        Assert.NotEmpty(uses);
        Assert.All(uses, m => Assert.Equal(":?", m.Groups["op"].Value));
        var (_, errors) = Interpolate(text, new Dictionary<string, string> { ["ADMIN_PUBKEY"] = "npub1x", ["NOSTPY_DOMAIN"] = "relay.example.com" });
        Assert.Contains(errors, e => e.StartsWith("POSTGRES_PASSWORD: "));
    }

    [Theory]
    [MemberData(nameof(ComposeFiles))]
    public void The_relays_environment_passes_nostpys_variables_and_every_value_is_a_valid_setting(string path)
    {
        var set = new Dictionary<string, string>
        {
            ["POSTGRES_PASSWORD"] = "p@ss/w:rd", ["NOSTPY_DOMAIN"] = "relay.example.com",
            ["ADMIN_PUBKEY"] = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
        };
        var (text, errors) = Interpolate(File.ReadAllText(RepoFile(path)), set);
        Assert.Empty(errors);
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        var relay = Map(Map(yaml.Documents[0].RootNode, "services"), "relay");
        var env = Map(relay, "environment").Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value ?? "");
        foreach (var nostpy in new[] { "WOT_ENABLED", "WOT_DEPTH", "ADMIN_PUBKEY", "CONTACT", "RELAY_ICON", "POOL_SIZE", "NOSTPY_DOMAIN", "POSTGRES_HOST", "POSTGRES_PASSWORD", "REDIS_URL" })
            Assert.True(env.ContainsKey(nostpy), $"{path}: the relay is not given {nostpy}");
        var raw = File.ReadAllText(RepoFile(path));
        Assert.Matches(@"image: .*:\$\{VERSION:-latest\}", raw);

        // The values compose hands the relay are settings it starts with (flags and variables share one loader).
        var options = OptionsLoader.Load(env, []);
        Assert.True(options.WotEnabled);
        Assert.Equal("wss://relay.example.com", options.RelayUrl);
        Assert.Equal("redis:6379", options.RedisUrl);
        Assert.Equal("postgres://nostr:p%40ss%2Fw%3Ard@postgres:5432/nostr", options.DatabaseUrl);   // a password needing escapes
    }

    [Fact]
    public void Compose_routes_the_domain_to_the_relay_through_Traefik()
    {
        var relay = Map(Map(Compose("compose.yml"), "services"), "relay");
        var labels = ((YamlSequenceNode)relay["labels"]).Select(n => ((YamlScalarNode)n).Value!).ToArray();
        Assert.Contains("traefik.enable=true", labels);
        Assert.Contains(labels, l => l.Contains(".rule=Host(`${NOSTPY_DOMAIN"));
        Assert.Contains(labels, l => l.EndsWith(".loadbalancer.server.port=8008"));
        Assert.Contains(labels, l => l.EndsWith(".tls=true"));
    }

    [Fact]
    public void The_Dokploy_template_generates_the_password_asks_for_the_domain_and_admin_and_feeds_the_compose_file()
    {
        var template = TomlSerializer.Deserialize<TomlTable>(File.ReadAllText(RepoFile("dokploy/template.toml")))!;
        var variables = (TomlTable)template["variables"];
        Assert.Matches(@"^\$\{password:\d+\}$", (string)variables["postgres_password"]);
        Assert.Equal("${domain}", (string)variables["main_domain"]);
        Assert.True(variables.ContainsKey("admin_pubkey"));

        var config = (TomlTable)template["config"];
        var domain = Assert.Single((TomlTableArray)config["domains"]);
        Assert.Equal("relay", (string)domain["serviceName"]);
        Assert.Equal(8008L, (long)domain["port"]);

        var env = (TomlTable)config["env"];
        var compose = File.ReadAllText(RepoFile("dokploy/docker-compose.yml"));
        foreach (var key in env.Keys)
            Assert.True(compose.Contains("${" + key, StringComparison.Ordinal), $"template sets {key}, which the compose file never reads");
        foreach (var required in Interpolation().Matches(compose).Where(m => m.Groups["op"].Value == ":?").Select(m => m.Groups["name"].Value).Distinct())
            Assert.True(env.ContainsKey(required), $"the compose file requires {required}, which the template does not set");
    }
}
