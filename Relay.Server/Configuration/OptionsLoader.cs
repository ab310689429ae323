using System.Globalization;
using Relay.Server.Policies;
using Relay.Storage.Model;

namespace Relay.Server.Configuration;

/// Builds <see cref="RelayOptions"/> from environment variables (nostpy's names included) and
/// `--name value` flags (flags win). A bad value stops start-up with a message naming the setting.
internal static class OptionsLoader
{
    public const string Help = """
        relay: a Nostr relay (NIP-01, NIP-11) on PostgreSQL.

        Usage: relay [serve] [--flag value ...]      run the relay
               relay migrate                         apply the database migrations and exit
               relay stats                           events by kind, oldest/newest, table and index sizes
               relay import [--no-verify] [FILE|-]   store JSONL events (strfry/nostr-rs-relay export) through the
                                                     relay's checks; progress and refused lines on stderr
               relay export [--filter JSON] [--since T] [--until T] [--oldest-first] [FILE|-]
                                                     stored events as JSONL, newest first
               relay healthcheck [--port N]          exit 0 if GET /health answers 200 (Docker HEALTHCHECK; alias: health)
               relay --version
               relay --help

        Settings: each is an environment variable and a flag (--max-limit 100 for MAX_LIMIT; flags win).
        An unknown flag or a bad value stops start-up with a message naming the setting.
          RELAY_HOST            --host          listen address (default 0.0.0.0)
          RELAY_PORT            --port          listen port (default 8008; nostpy's WS_PORT also works)
          DATABASE_URL          --database-url  postgres://user:pass@host:port/db
            or POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB (nostpy's compose),
            or DB_CONN_STRING, or PGHOST_WRITE, PGPORT_WRITE, PGUSER_WRITE, PGPASSWORD_WRITE, PGDATABASE_WRITE (nostpy's .env)
          DATABASE_READ_URL     --database-read-url  read replicas (streaming standbys) for REQ and COUNT, comma-separated
                                                postgres:// URLs; writes stay on DATABASE_URL
          POOL_SIZE             --pool-size     PostgreSQL connections (default 20; the same again per replica)
          RELAY_URL             --relay-url     public wss:// URL of this relay
          REDIS_URL             --redis-url     redis://[:password@]host:port (unset: single node; or nostpy's REDIS_HOST, REDIS_PORT)
          REDIS_CHANNEL                         pub/sub channel shared by the relays (default nostr-relay:events)
          RELAY_NAME or NOSTPY_DOMAIN           NIP-11 name
          RELAY_DESCRIPTION                     NIP-11 description
          ADMIN_PUBKEY                          the admin (64 hex or npub1…): NIP-11 pubkey, WoT root, no rate limits
          CONTACT                               NIP-11 contact
          RELAY_ICON or ICON                    NIP-11 icon URL
          RELAY_SOFTWARE                        NIP-11 software URL
          LOG_LEVEL             (default Information)  Trace, Debug, Information, Warning, Error
          LOG_FORMAT            (default text)     text, or json (one object per line); passwords are masked

        OpenTelemetry (the SDK's standard variables; unset endpoint = no exporter):
          OTEL_EXPORTER_OTLP_ENDPOINT              http(s)://collector:4317 (grpc) or :4318 (http/protobuf)
          OTEL_EXPORTER_OTLP_PROTOCOL (default grpc)  grpc or http/protobuf
          OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME (default relay), OTEL_RESOURCE_ATTRIBUTES,
          OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000), OTEL_BSP_SCHEDULE_DELAY (ms, default 5000)

        Web of Trust (nostpy's settings):
          WOT_ENABLED           (default false)    only the admin and their follows (to WOT_DEPTH) may publish
          WOT_DEPTH             (default 2)        1 = the admin's follows, 2 = follows of follows, up to 4
          WOT_READ              (default false)    REQs need NIP-42 AUTH by a pubkey in the web of trust
          WOT_SEED_RELAYS                          ws(s):// URLs, comma-separated, to fetch contact lists from
          WOT_REFRESH_MINUTES   (default 60)       fetch from the seeds and rebuild this often

        NIP-42 and private kinds:
          AUTH_REQUIRED_FOR_READ  (default false)  REQ/COUNT only after AUTH
          AUTH_REQUIRED_FOR_WRITE (default false)  EVENT only after AUTH
          PRIVATE_KINDS           (default none)   more kinds served only to author or p-tagged recipient (4, 1059, 1060 always)

        Limits (published in NIP-11):
          MAX_IDS_PER_FILTER    (default 1000)
          MAX_AUTHORS_PER_FILTER (default 1000)
          MAX_EVENT_TAGS        (default 2500)
          MAX_CONTENT_LENGTH    (default 262144)   content bytes
          MAX_PAST_SECONDS      (default 0 = any age)  how far back created_at may be
          MIN_POW_DIFFICULTY    (default 0)        NIP-13 leading zero bits
          MAX_CONNECTIONS_PER_IP (default 0 = no limit)
          TRUSTED_PROXIES       (default none)     CIDRs whose X-Forwarded-For / X-Real-IP are believed
          EVENTS_PER_SECOND_PER_IP, EVENTS_PER_SECOND_PER_PUBKEY,
          REQS_PER_SECOND_PER_IP, REQS_PER_SECOND_PER_PUBKEY (default 0 = off; per pubkey: the AUTHed one)
          RATE_LIMIT_BURST_SECONDS (default 10)    a bucket holds this many seconds of its rate
          RATE_LIMIT_CLOSE_AFTER (default 100)     rate-limited answers in a row before the connection is closed
          RATE_LIMIT_EXEMPT_WOT  (default false)   the web of trust skips rate limits (the admin always does)
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
                                (heavy REQs, asking more than MAX_LIMIT events in all, take all slots but one)
          STORED_ANSWER_MEMORY_MB (default 128) stored answers held for clients not reading yet, all together
          HOT_TIER_MB           (default: a quarter of RAM)  newest events kept in memory to answer REQs (0 = off)
          SEND_BUFFER_KB        (default 256)      each client socket's kernel send buffer (SO_SNDBUF; 0 = the kernel's autotuning)
        """;

    public static RelayOptions Load(IReadOnlyDictionary<string, string> env, string[] args)
    {
        var s = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new List<string>();
        foreach (var (k, v) in env) if (v.Length > 0) s[k] = v;
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new OptionsException($"unexpected argument '{args[i]}' (see --help)");
            if (i + 1 >= args.Length) throw new OptionsException($"{args[i]} needs a value");
            var key = args[i][2..].Replace('-', '_').ToUpperInvariant() switch
            {
                "HOST" => "RELAY_HOST",
                "PORT" => "RELAY_PORT",
                var other => other,
            };
            flags.Add(key);
            s[key] = args[++i];
        }

        // A flag must name a setting: one that nothing reads is a typo, said at once.
        var read = new HashSet<string>(StringComparer.Ordinal);
        string? Get(string key)
        {
            read.Add(key);
            return s.TryGetValue(key, out var v) ? v : null;
        }
        int Int(string key, int fallback, int min = 0, int max = int.MaxValue)
        {
            var v = Get(key);
            if (v is null) return fallback;
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
                throw new OptionsException($"{key} must be an integer from {min} to {max}, got '{v}'");
            return n;
        }

        bool Bool(string key, bool fallback)
        {
            var v = Get(key);
            if (v is null) return fallback;
            // nostpy writes True/False; accept any case and 1/0, yes/no, on/off.
            switch (v.Trim().ToLowerInvariant())
            {
                case "true" or "1" or "yes" or "on": return true;
                case "false" or "0" or "no" or "off": return false;
                default: throw new OptionsException($"{key} must be true or false (or 1/0, yes/no), got '{v}'");
            }
        }
        double Rate(string key)
        {
            var v = Get(key);
            if (v is null) return 0;
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || r < 0 || double.IsNaN(r) || double.IsInfinity(r))
                throw new OptionsException($"{key} must be a non-negative number (per second), got '{v}'");
            return r;
        }
        string[] List(string key) => Get(key)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];

        var defaults = new RelayOptions { DatabaseUrl = "" };
        foreach (var alternative in (string[])["NOSTPY_DOMAIN", "RELAY_NAME", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB",
                     "DB_CONN_STRING", "PGHOST_WRITE", "PGPORT_WRITE", "PGUSER_WRITE", "PGPASSWORD_WRITE", "PGDATABASE_WRITE", "REDIS_HOST", "REDIS_PORT",
                     "WS_PORT", "ICON"])
            Get(alternative);   // read only when another is unset, but settings all the same
        var admin = AdminPubkey(Get("ADMIN_PUBKEY"));
        var wot = Bool("WOT_ENABLED", false);
        if (wot && admin is null) throw new OptionsException("WOT_ENABLED is on but ADMIN_PUBKEY is not set: the web of trust starts from the admin's follows");
        var maxEventBytes = Int("MAX_EVENT_BYTES", defaults.MaxEventBytes, 256);
        var name = Get("RELAY_NAME") ?? Get("NOSTPY_DOMAIN") ?? defaults.Name;
        var logLevel = Get("LOG_LEVEL") is { } lv
            ? Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(lv, true, out var parsedLevel) && Enum.IsDefined(parsedLevel) ? parsedLevel
              : throw new OptionsException($"LOG_LEVEL must be Trace, Debug, Information, Warning, Error, Critical or None, got '{lv}'")
            : defaults.LogLevel;
        var logFormat = Get("LOG_FORMAT")?.ToLowerInvariant() ?? defaults.LogFormat;
        if (logFormat is not ("text" or "json")) throw new OptionsException($"LOG_FORMAT must be text or json, got '{Get("LOG_FORMAT")}'");
        var telemetry = s.Where(kv => kv.Key.StartsWith("OTEL_", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        if (telemetry.TryGetValue("OTEL_EXPORTER_OTLP_ENDPOINT", out var endpoint)
            && !(Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) && endpointUri.Scheme is "http" or "https"))
            throw new OptionsException($"OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, got '{endpoint}'");
        if (telemetry.TryGetValue("OTEL_EXPORTER_OTLP_PROTOCOL", out var protocol) && protocol is not ("grpc" or "http/protobuf"))
            throw new OptionsException($"OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf, got '{protocol}'");
        var options = new RelayOptions
        {
            LogLevel = logLevel,
            LogFormat = logFormat,
            Telemetry = telemetry,
            Host = Get("RELAY_HOST") ?? defaults.Host,
            Port = Get("RELAY_PORT") is null && Get("WS_PORT") is not null ? Int("WS_PORT", defaults.Port, 0, 65535) : Int("RELAY_PORT", defaults.Port, 0, 65535),
            DatabaseUrl = DatabaseUrlFrom(Get) ?? throw new OptionsException("set DATABASE_URL (postgres://user:pass@host:port/db) or POSTGRES_HOST/POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB"),
            DatabasePoolSize = Int("POOL_SIZE", defaults.DatabasePoolSize, 2, 1000),
            DatabaseReadUrls = ReadUrls(List("DATABASE_READ_URL")),
            RedisUrl = Get("REDIS_URL") ?? (Get("REDIS_HOST") is { } redisHost ? $"{redisHost}:{Get("REDIS_PORT") ?? "6379"}" : null),
            RedisChannel = Get("REDIS_CHANNEL") ?? defaults.RedisChannel,
            RelayUrl = Get("RELAY_URL") ?? (Get("NOSTPY_DOMAIN") is { } d ? $"wss://{d}" : null),
            Name = name,
            Description = Get("RELAY_DESCRIPTION") ?? defaults.Description,
            AdminPubkey = admin,
            Software = Get("RELAY_SOFTWARE") ?? defaults.Software,
            Contact = Get("CONTACT"),
            Icon = Get("RELAY_ICON") ?? Get("ICON"),
            MaxMessageBytes = Int("MAX_MESSAGE_BYTES", defaults.MaxMessageBytes, 1024),
            MaxEventBytes = maxEventBytes,
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
            StoredAnswerMemoryMb = Int("STORED_ANSWER_MEMORY_MB", defaults.StoredAnswerMemoryMb, 1, 1024 * 1024),
            HotTierMb = Int("HOT_TIER_MB", defaults.HotTierMb, 0),
            SendBufferBytes = Int("SEND_BUFFER_KB", defaults.SendBufferBytes / 1024, 0, 64 * 1024) * 1024,
            MaxIdsPerFilter = Int("MAX_IDS_PER_FILTER", defaults.MaxIdsPerFilter, 1, FilterParser.MaxValuesPerField),
            MaxAuthorsPerFilter = Int("MAX_AUTHORS_PER_FILTER", defaults.MaxAuthorsPerFilter, 1, FilterParser.MaxValuesPerField),
            MaxEventTags = Int("MAX_EVENT_TAGS", defaults.MaxEventTags, 0, EventParser.MaxTags),
            MaxContentLength = Int("MAX_CONTENT_LENGTH", maxEventBytes, 0),
            MaxPastSeconds = Int("MAX_PAST_SECONDS", 0, 0),
            MinPowDifficulty = Int("MIN_POW_DIFFICULTY", 0, 0, 256),
            MaxConnectionsPerIp = Int("MAX_CONNECTIONS_PER_IP", 0, 0),
            TrustedProxies = List("TRUSTED_PROXIES").Select(c => AddressRange.TryParse(c, out var r) ? r
                : throw new OptionsException($"TRUSTED_PROXIES must be CIDRs or addresses (10.0.0.0/8, 172.16.0.0/12, ::1), got '{c}'")).ToArray(),
            EventsPerSecondPerIp = Rate("EVENTS_PER_SECOND_PER_IP"),
            EventsPerSecondPerPubkey = Rate("EVENTS_PER_SECOND_PER_PUBKEY"),
            ReqsPerSecondPerIp = Rate("REQS_PER_SECOND_PER_IP"),
            ReqsPerSecondPerPubkey = Rate("REQS_PER_SECOND_PER_PUBKEY"),
            RateLimitBurstSeconds = Int("RATE_LIMIT_BURST_SECONDS", (int)defaults.RateLimitBurstSeconds, 1, 3600),
            RateLimitCloseAfter = Int("RATE_LIMIT_CLOSE_AFTER", defaults.RateLimitCloseAfter, 1),
            RateLimitExemptWot = Bool("RATE_LIMIT_EXEMPT_WOT", false),
            AuthRequiredForRead = Bool("AUTH_REQUIRED_FOR_READ", false),
            AuthRequiredForWrite = Bool("AUTH_REQUIRED_FOR_WRITE", false),
            PrivateKinds = [.. defaults.PrivateKinds.Union(List("PRIVATE_KINDS").Select(k =>
                int.TryParse(k, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= Kinds.Max ? n
                : throw new OptionsException($"PRIVATE_KINDS must be kinds (integers 0-65535), comma-separated, got '{k}'")))],
            WotEnabled = wot,
            WotDepth = Int("WOT_DEPTH", defaults.WotDepth, 1, 4),
            WotRead = Bool("WOT_READ", false),
            WotSeedRelays = List("WOT_SEED_RELAYS").Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "ws" or "wss" ? u
                : throw new OptionsException($"WOT_SEED_RELAYS must be ws:// or wss:// URLs, comma-separated, got '{u}'")).ToArray(),
            WotRefresh = TimeSpan.FromMinutes(Int("WOT_REFRESH_MINUTES", (int)defaults.WotRefresh.TotalMinutes, 1, 7 * 24 * 60)),
        };
        foreach (var flag in flags)
            if (!read.Contains(flag) && !flag.StartsWith("OTEL_", StringComparison.Ordinal))
                throw new OptionsException($"unknown flag --{flag.ToLowerInvariant().Replace('_', '-')} (see --help for the settings)");
        return options;
    }

    /// 64 hex (any case) or npub1…, as 64 lowercase hex; a malformed key stops start-up.
    private static string? AdminPubkey(string? value)
    {
        if (value is null) return null;
        var v = value.Trim();
        if (v.Length == 64 && Hex.IsLowerHex(v.ToLowerInvariant(), 64)) return v.ToLowerInvariant();
        return Npub.TryDecode(v) ?? throw new OptionsException($"ADMIN_PUBKEY must be a 64-character hex pubkey or an npub1… key, got '{value}'");
    }

    private static string[] ReadUrls(string[] urls)
    {
        foreach (var url in urls)
        {
            try { Relay.Storage.Postgres.DatabaseUrl.Parse(url); }
            catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException or KeyNotFoundException)
            {
                throw new OptionsException($"DATABASE_READ_URL must be postgres:// URLs, comma-separated; '{Mask(url)}' is not ({e.Message})");
            }
        }
        return urls;
    }

    /// A URL as it may appear in a message: without its password.
    private static string Mask(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && u.UserInfo.Contains(':') ? url.Replace(u.UserInfo, u.UserInfo.Split(':')[0] + ":***") : url;

    private static string? DatabaseUrlFrom(Func<string, string?> get)
    {
        if ((get("DATABASE_URL") ?? get("DB_CONN_STRING")) is { } url) return url;
        // POSTGRES_* as nostpy's compose and Dokploy template write them; PG*_WRITE as its .env does.
        var prefix = get("POSTGRES_HOST") is not null ? "POSTGRES_" : get("PGHOST_WRITE") is not null ? "PG*_WRITE" : null;
        if (prefix is null) return null;
        string? Part(string name) => prefix == "POSTGRES_" ? get("POSTGRES_" + name) : get("PG" + name switch { "DB" => "DATABASE", var n => n } + "_WRITE");
        var user = Uri.EscapeDataString(Part("USER") ?? "postgres");
        var pass = Part("PASSWORD") is { } p ? ":" + Uri.EscapeDataString(p) : "";
        return $"postgres://{user}{pass}@{Part("HOST")}:{Part("PORT") ?? "5432"}/{Uri.EscapeDataString(Part("DB") ?? "postgres")}";
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
