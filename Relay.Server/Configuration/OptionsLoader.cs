using System.Globalization;

namespace Relay.Server.Configuration;

/// Builds <see cref="RelayOptions"/> from environment variables (nostpy's names included) and
/// `--name value` flags (flags win). A bad value stops start-up with a message naming the setting.
internal static class OptionsLoader
{
    public const string Help = """
        relay: a Nostr relay (NIP-01, NIP-11) on PostgreSQL.

        Usage: relay [serve] [--flag value ...]      run the relay
               relay health [--port N]               exit 0 if GET /health answers 200 (Docker HEALTHCHECK)
               relay --help

        Settings (environment variable, or --flag):
          RELAY_HOST            --host          listen address (default 0.0.0.0)
          RELAY_PORT            --port          listen port (default 8008)
          DATABASE_URL          --database-url  postgres://user:pass@host:port/db
            or POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB (nostpy)
          POOL_SIZE             --pool-size     PostgreSQL connections (default 20)
          RELAY_URL             --relay-url     public wss:// URL of this relay
          REDIS_URL             --redis-url     redis://[:password@]host:port (unset: single node)
          REDIS_CHANNEL                         pub/sub channel shared by the relays (default nostr-relay:events)
          RELAY_NAME or NOSTPY_DOMAIN           NIP-11 name
          RELAY_DESCRIPTION                     NIP-11 description
          ADMIN_PUBKEY                          NIP-11 pubkey (hex)
          CONTACT                               NIP-11 contact
          RELAY_ICON                            NIP-11 icon URL
          MAX_MESSAGE_BYTES     (default 524288)   largest WebSocket message accepted
          MAX_EVENT_BYTES       (default 262144)   largest event JSON accepted
          MAX_SUBSCRIPTIONS     (default 100)      open subscriptions per connection
          MAX_FILTERS           (default 20)       filters per REQ
          MAX_LIMIT             (default 500)      most stored events returned per filter
          MAX_CONNECTIONS       (default 20000)
          MAX_FUTURE_SECONDS    (default 900)      how far ahead created_at may be
          IDLE_TIMEOUT_SECONDS  (default 300)      close connections silent this long
          WRITE_BATCH_SIZE      (default 500)      events per database transaction
          WRITE_BATCH_DELAY_MS  (default 0)        wait for more events before writing
          WRITE_CONNECTIONS     (default 2)        writer loops, each with its own connection
          VERIFY_WORKERS        (default: cores)   signature verification threads
          MAX_CONCURRENT_QUERIES (default: cores, at least 2)  REQ/COUNT queries run at once; the rest queue
        """;

    public static RelayOptions Load(IReadOnlyDictionary<string, string> env, string[] args)
    {
        var s = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in env) if (v.Length > 0) s[k] = v;
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new OptionsException($"unexpected argument '{args[i]}' (see --help)");
            if (i + 1 >= args.Length) throw new OptionsException($"{args[i]} needs a value");
            s[args[i][2..].Replace('-', '_').ToUpperInvariant() switch
            {
                "HOST" => "RELAY_HOST",
                "PORT" => "RELAY_PORT",
                "RELAY_URL" => "RELAY_URL",
                var other => other,
            }] = args[++i];
        }

        string? Get(string key) => s.TryGetValue(key, out var v) ? v : null;
        int Int(string key, int fallback, int min = 0, int max = int.MaxValue)
        {
            var v = Get(key);
            if (v is null) return fallback;
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
                throw new OptionsException($"{key} must be an integer from {min} to {max}, got '{v}'");
            return n;
        }

        var defaults = new RelayOptions { DatabaseUrl = "" };
        var name = Get("RELAY_NAME") ?? Get("NOSTPY_DOMAIN") ?? defaults.Name;
        return new RelayOptions
        {
            Host = Get("RELAY_HOST") ?? defaults.Host,
            Port = Int("RELAY_PORT", defaults.Port, 0, 65535),
            DatabaseUrl = DatabaseUrlFrom(Get) ?? throw new OptionsException("set DATABASE_URL (postgres://user:pass@host:port/db) or POSTGRES_HOST/POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB"),
            DatabasePoolSize = Int("POOL_SIZE", defaults.DatabasePoolSize, 2, 1000),
            RedisUrl = Get("REDIS_URL"),
            RedisChannel = Get("REDIS_CHANNEL") ?? defaults.RedisChannel,
            RelayUrl = Get("RELAY_URL") ?? (Get("NOSTPY_DOMAIN") is { } d ? $"wss://{d}" : null),
            Name = name,
            Description = Get("RELAY_DESCRIPTION") ?? defaults.Description,
            AdminPubkey = Get("ADMIN_PUBKEY"),
            Contact = Get("CONTACT"),
            Icon = Get("RELAY_ICON"),
            MaxMessageBytes = Int("MAX_MESSAGE_BYTES", defaults.MaxMessageBytes, 1024),
            MaxEventBytes = Int("MAX_EVENT_BYTES", defaults.MaxEventBytes, 256),
            MaxSubscriptions = Int("MAX_SUBSCRIPTIONS", defaults.MaxSubscriptions, 1),
            MaxFilters = Int("MAX_FILTERS", defaults.MaxFilters, 1),
            MaxLimit = Int("MAX_LIMIT", defaults.MaxLimit, 1),
            MaxConnections = Int("MAX_CONNECTIONS", defaults.MaxConnections, 1),
            MaxFutureSeconds = Int("MAX_FUTURE_SECONDS", defaults.MaxFutureSeconds, 0),
            IdleTimeout = TimeSpan.FromSeconds(Int("IDLE_TIMEOUT_SECONDS", (int)defaults.IdleTimeout.TotalSeconds, 5)),
            WriteBatchSize = Int("WRITE_BATCH_SIZE", defaults.WriteBatchSize, 1, 100_000),
            WriteBatchDelay = TimeSpan.FromMilliseconds(Int("WRITE_BATCH_DELAY_MS", (int)defaults.WriteBatchDelay.TotalMilliseconds, 0, 10_000)),
            WriteConnections = Int("WRITE_CONNECTIONS", defaults.WriteConnections, 1, 64),
            VerifyWorkers = Int("VERIFY_WORKERS", defaults.VerifyWorkers, 1, 256),
            MaxConcurrentQueries = Int("MAX_CONCURRENT_QUERIES", defaults.MaxConcurrentQueries, 1, 1024),
        };
    }

    private static string? DatabaseUrlFrom(Func<string, string?> get)
    {
        if (get("DATABASE_URL") is { } url) return url;
        if (get("POSTGRES_HOST") is not { } host) return null;
        var user = Uri.EscapeDataString(get("POSTGRES_USER") ?? "postgres");
        var pass = get("POSTGRES_PASSWORD") is { } p ? ":" + Uri.EscapeDataString(p) : "";
        return $"postgres://{user}{pass}@{host}:{get("POSTGRES_PORT") ?? "5432"}/{Uri.EscapeDataString(get("POSTGRES_DB") ?? "postgres")}";
    }

    public static Dictionary<string, string> ProcessEnvironment()
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            d[(string)e.Key] = (string?)e.Value ?? "";
        return d;
    }
}

internal sealed class OptionsException(string message) : Exception(message);
